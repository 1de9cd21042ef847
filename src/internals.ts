// The one door to Socket.IO and Engine.IO internals that are not in their public types. Everything here
// was read in socket.io 4.8 / engine.io 6.6 / socket.io-adapter 2.5; test/unit/internals.test.ts fails
// when an upgrade changes it.
import type { Socket as TcpSocket } from 'node:net';
import { uServer } from 'engine.io';
import type { Namespace, Server, Socket } from 'socket.io';
import { Adapter, type BroadcastOptions } from 'socket.io-adapter';

/** Every namespace the server has created. */
export function namespacesOf(io: Server): Iterable<Namespace> {
  return (io as unknown as { _nsps: Map<string, Namespace> })._nsps.values();
}

/** The socket of this id in the namespace, connected or still in its middlewares. */
export function socketById(nsp: Namespace, id: string): Socket | undefined {
  const internal = nsp as unknown as {
    sockets: Map<string, Socket>;
    _preConnectSockets: Map<string, Socket>;
  };
  return internal.sockets.get(id) ?? internal._preConnectSockets.get(id);
}

/** The WebSocket (from `ws` or uWebSockets.js) under an Engine.IO websocket transport. */
export function webSocketOf<W>(transport: unknown): W | undefined {
  return (transport as { socket?: W }).socket;
}

/** The TCP socket under a `ws` WebSocket. */
export function tcpOf(ws: unknown): TcpSocket {
  return (ws as { _socket: TcpSocket })._socket;
}

/**
 * Replaces an Engine.IO connection's `flush` (private in its types; Engine.IO calls it after queueing a
 * packet and when its transport drains) with `wrap(flush)`.
 */
export function wrapFlush(conn: Socket['conn'], wrap: (flush: () => void) => () => void): void {
  const internal = conn as unknown as { flush(): void };
  internal.flush = wrap(internal.flush.bind(internal));
}

/** What Socket.IO reads from a handshake request to build each namespace's `socket.handshake`. */
export interface HandshakeRequest {
  headers: Record<string, string>;
  url: string | undefined;
  _query: Record<string, unknown>;
  connection: { encrypted: boolean };
}

/**
 * The request of a socket's connection, which its Engine.IO connection keeps for as long as it lasts
 * (Socket.IO's client reads it there to build the handshake of every namespace the client joins later).
 */
export function requestOf(socket: Socket): HandshakeRequest {
  return (socket.conn as unknown as { request: HandshakeRequest }).request;
}

/** Replaces the request the socket's connection keeps (see `requestOf`). */
export function replaceRequest(socket: Socket, request: HandshakeRequest): void {
  (socket.conn as unknown as { request: HandshakeRequest }).request = request;
}

/** How many packets Engine.IO has queued for a connection and not yet handed to its transport. */
export function queuedPackets(conn: Socket['conn']): number {
  return (conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length;
}

/** Runs the socket's `onAnyOutgoing` listeners for a broadcast packet, as Socket.IO's broadcast does. */
export function notifyOutgoing(socket: Socket, packet: unknown): void {
  (socket as unknown as { notifyOutgoingListeners(packet: unknown): void }).notifyOutgoingListeners(packet);
}

/** Packets encoded once for many sockets, and the write options that go with them. */
export interface PreEncoded {
  packets: unknown[];
  opts: Record<string, unknown>;
}

/** The private session id Socket.IO gives a socket when recovery is on. */
export function pidOf(socket: Socket): string | undefined {
  return (socket as unknown as { pid?: string }).pid;
}

/**
 * Encodes `packet` as the in-memory adapter does for a broadcast: once, with the WebSocket frame of the
 * `ws` transport precomputed, so writing it to each socket costs no encoding.
 */
export function preEncode(
  adapter: Adapter,
  packet: { type: number; data: unknown[]; nsp: string },
  compress?: boolean,
): PreEncoded {
  const opts: Record<string, unknown> = { preEncoded: true, compress };
  const packets = (adapter as unknown as { _encode(p: unknown, o: unknown): unknown[] })._encode(
    packet,
    opts,
  );
  return { packets, opts };
}

/** `packet` in Socket.IO's wire encoding, with the namespace's encoder: a string, then any binary parts. */
export function encodeWithAdapter(adapter: Adapter, packet: unknown): Array<string | Buffer> {
  return (adapter as unknown as { encoder: { encode(p: unknown): Array<string | Buffer> } }).encoder.encode(
    packet,
  );
}

/** Writes pre-encoded packets to one socket's connection, as a broadcast does. */
export function writePreEncoded(socket: Socket, encoded: PreEncoded): void {
  (socket.client as unknown as { writeToEngine(p: unknown[], o: unknown): void }).writeToEngine(
    encoded.packets,
    encoded.opts,
  );
}

/**
 * The in-memory adapter's local fan-out (a topic publish on a server attached to uWS, see below),
 * bypassing a cluster adapter's override that would publish again.
 */
export function localBroadcast(adapter: Adapter, packet: unknown, opts: BroadcastOptions): void {
  Adapter.prototype.broadcast.call(adapter, packet, opts);
}

/** The id of the socket this socket's connection already has in its namespace, connected or connecting. */
export function socketOfConnection(socket: Socket): string | undefined {
  const client = socket.client as unknown as { nsps: Map<string, Socket> };
  return client.nsps.get(socket.nsp.name)?.id;
}

/** The adapter methods a transport may give its own server's adapters (Socket.IO's uWS integration does). */
export type AdapterMethods = Pick<Adapter, 'addAll' | 'del' | 'broadcast'>;

const plain: AdapterMethods = {
  addAll: Adapter.prototype.addAll,
  del: Adapter.prototype.del,
  broadcast: Adapter.prototype.broadcast,
};
const methodsByServer = new WeakMap<object, AdapterMethods>();

/**
 * Gives the adapters of `io`, and of no other Socket.IO server in the process, the methods `adapt` builds
 * from the plain in-memory ones: `Adapter.prototype` then dispatches by server.
 */
export function scopeAdapterMethods(io: Server, adapt: (plain: AdapterMethods) => AdapterMethods): void {
  methodsByServer.set(io, adapt(plain));
  const serverOf = (adapter: Adapter) => methodsByServer.get(adapter.nsp.server) ?? plain;
  Adapter.prototype.addAll = function (this: Adapter, id, rooms) {
    return serverOf(this).addAll.call(this, id, rooms);
  };
  Adapter.prototype.del = function (this: Adapter, id, room) {
    return serverOf(this).del.call(this, id, room);
  };
  Adapter.prototype.broadcast = function (this: Adapter, packet, opts) {
    return serverOf(this).broadcast.call(this, packet, opts);
  };
}

/**
 * Socket.IO's uWS integration (`attachApp`) replaces `addAll`, `del` and `broadcast` on the shared
 * `Adapter.prototype`: every Socket.IO server of the process would then (un)subscribe uWS topics and
 * publish to the last attached uWS app. This runs `attach`, takes the replaced methods back off the
 * prototype and keeps them for `io` alone (after `adapt` wraps them), as `scopeAdapterMethods` does.
 */
export function scopeUwsIntegration(
  io: Server,
  attach: () => void,
  adapt: (patched: AdapterMethods, original: AdapterMethods) => AdapterMethods,
): void {
  attach();
  const patched: AdapterMethods = {
    addAll: Adapter.prototype.addAll,
    del: Adapter.prototype.del,
    broadcast: Adapter.prototype.broadcast,
  };
  scopeAdapterMethods(io, (original) => adapt(patched, original));
}

/** Called with the uWS response and request before Engine.IO handles them (the request is valid only now). */
export interface UwsEngineHooks {
  request(res: unknown, req: unknown): void;
  upgrade(res: unknown, req: unknown, context: unknown): void;
}

const hooksByEngine = new WeakMap<object, UwsEngineHooks>();
let engineHooksInstalled = false;

/**
 * Runs `attach`, which creates the Engine.IO server for uWS (`io.attachApp`), and gives that engine alone
 * `hooks` before each HTTP request and WebSocket upgrade. Engine.IO binds its handlers when it attaches,
 * so the hooks go on the prototype before that, and look up the engine they run for.
 */
export function hookUwsEngine(attach: () => object, hooks: UwsEngineHooks): void {
  if (!engineHooksInstalled) {
    engineHooksInstalled = true;
    const proto = uServer.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    const { handleRequest, handleUpgrade } = proto as {
      handleRequest: (...args: unknown[]) => unknown;
      handleUpgrade: (...args: unknown[]) => unknown;
    };
    proto.handleRequest = function (this: object, res: unknown, req: unknown) {
      hooksByEngine.get(this)?.request(res, req);
      return handleRequest.call(this, res, req);
    };
    proto.handleUpgrade = function (this: object, res: unknown, req: unknown, context: unknown) {
      hooksByEngine.get(this)?.upgrade(res, req, context);
      return handleUpgrade.call(this, res, req, context);
    };
  }
  hooksByEngine.set(attach(), hooks);
}

/**
 * Ends a client connection the way a crash or a restart would: the transport just ends, with no Engine.IO
 * CLOSE packet. Some clients (python-engineio among them) take a CLOSE packet as a deliberate close and
 * never reconnect; every client reconnects after a dropped transport. Socket.IO sees `transport error` or
 * `transport close`, both recoverable, so it keeps the session.
 */
export function dropConnection(conn: { transport: { name: string } }): void {
  // `res` and `onError` are not in Engine.IO's public types (onError is protected).
  const transport = conn.transport as { name: string; res?: unknown; onError(message: string): void };
  if (transport.name === 'websocket') {
    const ws = webSocketOf<{ terminate?(): void; close(): void }>(transport);
    // `ws` closes at once with terminate(); uWS's close() is its forceful close.
    if (ws?.terminate) ws.terminate();
    else ws?.close();
    return;
  }
  // Long-polling: a pending GET would carry the CLOSE packet; cut its connection first (Node's http
  // response, or uWS's response, bare or inside Engine.IO's wrapper), then fail the transport.
  type Pending = { socket?: { destroy(): void }; res?: { close(): void }; close?(): void };
  const res = transport.res as Pending | undefined;
  try {
    if (res?.socket) res.socket.destroy();
    else (res?.res ?? res)?.close?.();
  } catch {
    // already aborted by the client
  }
  transport.onError('server shutting down');
}

/**
 * A listener table Node's EventEmitter keeps, in a fast-properties object. Node creates `_events` as a
 * null-prototype literal, which V8 holds as a hash table sized for every event ever listened to: 450–500
 * bytes on each idle connection's Engine.IO socket and transport. An object of a class whose prototype is
 * null-prototype holds the same keys as plain fields, and looks up nothing inherited.
 */
function ListenerTable() {}
ListenerTable.prototype = Object.create(null);

/**
 * Engine.IO's queue of send callbacks, which it pushes to at every flush and shifts at every drain: nearly
 * always empty or one entry. As an array it holds the 17-slot backing store V8 gives it on its first push
 * (152 bytes on every connection that was ever written to); this holds one entry in a field.
 */
export class SendCallbacks {
  length = 0;
  private head: unknown;
  private rest: unknown[] | undefined;

  push(entry: unknown): number {
    if (this.length === 0) this.head = entry;
    else if (this.rest) this.rest.push(entry);
    else this.rest = [entry];
    return ++this.length;
  }

  shift(): unknown {
    if (this.length === 0) return undefined;
    const entry = this.head;
    this.length--;
    this.head = this.rest?.shift();
    if (this.rest?.length === 0) this.rest = undefined;
    return entry;
  }
}

/**
 * Socket.IO's map of the acks a socket waits for from its client (it calls `set`, `get` and `delete`),
 * which a relay socket seldom uses: the Map (184 bytes) is made on the first `set`.
 */
export class LazyAcks {
  private map: Map<number, unknown> | undefined;

  get size(): number {
    return this.map?.size ?? 0;
  }

  get(id: number): unknown {
    return this.map?.get(id);
  }

  set(id: number, ack: unknown): this {
    if (this.map) this.map.set(id, ack);
    else this.map = new Map([[id, ack]]);
    return this;
  }

  delete(id: number): boolean {
    return this.map?.delete(id) ?? false;
  }
}

/** The decoder options Socket.IO gives every client (its own copy each): one shared, frozen copy. */
let sharedDecoderOpts: object | undefined;

/**
 * Shrinks what a connected socket keeps for its life, once every listener is in place (its last connect
 * step); nothing changes in what it does:
 * - the listener tables of the socket, its Engine.IO connection and that connection's transport move into
 *   ListenerTables;
 * - arrays filled at connect (Engine.IO's cleanup callbacks, Socket.IO's socket middlewares, the
 *   decoder's listeners, an event's several listeners) are copied to their length: V8 gives an array
 *   room for 16 more elements on its first push and never shrinks it (130–190 bytes each);
 * - Engine.IO's send callbacks go into a SendCallbacks, and Socket.IO's acks into a LazyAcks;
 * - the decoder's options, when they are Socket.IO's defaults, are one shared copy;
 * - a WebSocket transport drops its `headers` listener: only long-polling transports emit that event.
 * Both libraries read these through their own properties on every use, so replacing them is safe.
 * Engine.IO's write buffers are replaced at every flush already.
 */
export function compactSocket(socket: Socket): void {
  const conn = socket.conn as unknown as {
    cleanupFn: unknown[];
    sentCallbackFn: { length: number; push(entry: unknown): number; shift(): unknown };
    transport: { name: string; removeAllListeners(event: string): void };
  };
  const decoder = (
    socket.client as unknown as {
      decoder: {
        _callbacks?: Record<string, unknown[]>;
        opts?: { reviver?: unknown; maxAttachments?: number };
      };
    }
  ).decoder;
  const internal = socket as unknown as { fns: unknown[]; acks: Map<number, unknown> | LazyAcks };
  conn.cleanupFn = conn.cleanupFn.slice();
  if (internal.acks.size === 0) internal.acks = new LazyAcks();
  internal.fns = internal.fns.slice();
  if (!(conn.sentCallbackFn instanceof SendCallbacks)) {
    const callbacks = new SendCallbacks();
    for (const entry of conn.sentCallbackFn as unknown[]) callbacks.push(entry);
    conn.sentCallbackFn = callbacks;
  }
  if (decoder._callbacks?.$decoded) decoder._callbacks.$decoded = decoder._callbacks.$decoded.slice();
  const opts = decoder.opts;
  if (opts && Object.keys(opts).length === 2 && opts.reviver === undefined && opts.maxAttachments === 10) {
    sharedDecoderOpts ??= Object.freeze({ ...opts });
    decoder.opts = sharedDecoderOpts;
  }
  if (conn.transport.name === 'websocket') conn.transport.removeAllListeners('headers');
  for (const emitter of [socket, conn, conn.transport]) compactListeners(emitter);
}

function compactListeners(emitter: object): void {
  const internal = emitter as { _events?: Record<string, unknown> };
  const events = internal._events;
  if (!events || events instanceof ListenerTable) return;
  const table = new (ListenerTable as unknown as new () => Record<string, unknown>)();
  for (const key of Object.keys(events)) {
    const listeners = events[key];
    table[key] = Array.isArray(listeners) ? listeners.slice() : listeners;
  }
  internal._events = table;
}
