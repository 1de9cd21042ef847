import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Server } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import { ErrorCodes, RelayError } from '../errors.js';
import {
  type AdapterMethods,
  notifyOutgoing,
  preEncode,
  queuedPackets,
  scopeAdapterMethods,
  tcpOf,
  webSocketOf,
  wrapFlush,
  writePreEncoded,
} from '../internals.js';
import { addAcceptors } from './acceptors.js';
import {
  type BackpressurePolicy,
  BURST_FACTOR,
  type EngineSocket,
  type EngineTransport,
  SlowConsumerGuard,
  type WebSocketBuffer,
} from './backpressure.js';
import type { Page, PublicTransport } from './transport.js';

/** Socket.IO's standard engine: Node's http server with the `ws` package for WebSocket. */
export function createWsTransport(): PublicTransport {
  let page: Page = { contentType: 'text/plain', body: '' };
  /** More descriptors of the listening socket (see acceptors.ts). */
  let acceptors: NetServer[] = [];
  // Registered before io.attach(), which hands every request outside /socket.io/ to earlier listeners.
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      res.writeHead(200, { 'content-type': page.contentType }).end(page.body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });

  return {
    name: 'ws',
    attach(io: Server, servedPage: Page, backpressure: BackpressurePolicy) {
      page = servedPage;
      io.attach(server);
      const mostHeld = backpressure.maxBytes * BURST_FACTOR;
      scopeAdapterMethods(io, (plain) => ({
        ...plain,
        broadcast: framedBroadcast(plain.broadcast, mostHeld),
      }));
      new SlowConsumerGuard(backpressure, wsBuffer).watch(io);
      oneWriteOpening(io);
      io.engine.on('connection', (conn: EngineSocket) => {
        writeFramesFirst(conn);
        corkBatches(conn.transport);
        conn.on('upgrade', corkBatches);
      });
    },
    listen(host: string, port: number) {
      return new Promise<number>((resolve, reject) => {
        server.once('error', (err) =>
          reject(
            new RelayError(ErrorCodes.LISTEN, `could not listen on ${host}:${port} (ws)`, { cause: err }),
          ),
        );
        server.listen({ port, host, backlog: LISTEN_BACKLOG }, async () => {
          acceptors = await addAcceptors(server, EXTRA_ACCEPTORS, LISTEN_BACKLOG);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    stopAccepting() {
      server.close();
      for (const acceptor of acceptors) acceptor.close();
      // Keep-alive connections could otherwise carry a new handshake to a dying instance.
      server.closeIdleConnections();
    },
    together(deliver) {
      try {
        deliver();
      } finally {
        writeQueuedFrames();
      }
    },
    batch(socket, write) {
      // Engine.IO sends the first packet at once and queues the rest for one corked send (corkBatches).
      const transport = socket.conn.transport;
      if (transport.name !== 'websocket') return write();
      corked(tcpOf(socketOf(transport)), write);
    },
  };
}

/**
 * Pending TCP connections the kernel queues before Node accepts them (capped by net.core.somaxconn).
 * Node's default, 511, overflows when thousands of clients reconnect at once: the kernel then drops
 * their handshakes and they retry seconds later (measured: 5,000 reconnects after a kill -9 overflowed
 * it ~500,000 times, and a third of the clients waited past their 20 s connect timeout).
 */
const LISTEN_BACKLOG = 65_535;

/** Descriptors of the listening socket besides the server's own: connections accepted per loop turn. */
const EXTRA_ACCEPTORS = 15;

/** The part of a `ws` WebSocket used here. */
interface WsSocket {
  readyState: number;
  bufferedAmount: number;
  terminate(): void;
}

/** `WebSocket.OPEN` in `ws`. */
const OPEN = 1;

/**
 * Broadcast frames not yet written, per connection (framedBroadcast). They leave together, one write per
 * connection: at the end of the `together` burst running now (one stream read's deliveries), or else once
 * this turn of the event loop has handled its I/O (as uWS sends its topic publishes). One write per frame
 * made a single instance's room broadcast collapse at 60,000 deliveries/s, against 560,000 with Engine.IO's
 * batching. Engine.IO writes to a connection only after the frames queued for it (writeFramesFirst).
 */
let queuedFrames: Map<EngineSocket, QueuedFrames> | undefined;

/** A connection's frames not yet written, and their bytes (which its TCP socket does not count yet). */
interface QueuedFrames {
  frames: Buffer[];
  bytes: number;
}

function writeFramesFirst(conn: EngineSocket): void {
  wrapFlush(conn, (flush) => () => {
    const queued = queuedFrames?.get(conn);
    if (queued) {
      queuedFrames?.delete(conn);
      writeFrames(conn, queued.frames);
    }
    flush();
  });
}

/** Queues `frame` for `conn`, after the frames already queued for it (`queued`, looked up by the caller). */
function queueFrame(conn: EngineSocket, frame: Buffer, queued: QueuedFrames | undefined): void {
  if (queued) {
    queued.frames.push(frame);
    queued.bytes += frame.length;
    return;
  }
  if (!queuedFrames) {
    queuedFrames = new Map();
    setImmediate(writeQueuedFrames);
  }
  queuedFrames.set(conn, { frames: [frame], bytes: frame.length });
}

function writeQueuedFrames(): void {
  const all = queuedFrames;
  queuedFrames = undefined;
  if (all) for (const [conn, queued] of all) writeFrames(conn, queued.frames);
}

function writeFrames(conn: EngineSocket, frames: Buffer[]): void {
  const ws = webSocketOf<WsSocket>(conn.transport);
  // Closed or closing meanwhile: nothing may follow a close frame.
  if (ws?.readyState !== OPEN) return;
  tcpOf(ws).write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames));
}

/**
 * Socket.IO's broadcast hands the packet to each socket through Engine.IO (a packet object, a
 * `packetCreate` event, a write buffer, a flush) and then `ws` (a frame written on its own): at 4,000
 * sockets receiving 50 messages/s that was most of a CPU-bound relay's time. Here the WebSocket frame is
 * built once per broadcast and queued for each connection's TCP socket (queuedFrames), as a uWS topic
 * publish does. Only when Engine.IO has nothing queued for the connection, so the order of its packets
 * holds; otherwise, and for several rooms, exceptions, volatile or binary packets, Socket.IO's path.
 * A connection holding more than `mostHeld` bytes also takes that path, where the slow-consumer guard
 * checks each packet and drops it.
 */
function framedBroadcast(
  socketIoBroadcast: AdapterMethods['broadcast'],
  mostHeld: number,
): AdapterMethods['broadcast'] {
  return function (this: Adapter, packet, opts) {
    const flags = opts.flags ?? {};
    if (opts.rooms.size > 1 || (opts.except?.size ?? 0) > 0 || flags.volatile) {
      return socketIoBroadcast.call(this, packet, opts);
    }
    const [room] = opts.rooms;
    const ids = room === undefined ? this.sids.keys() : this.rooms.get(room);
    if (!ids) return;
    packet.nsp = this.nsp.name;
    const encoded = preEncode(this, packet, flags.compress);
    const parts = encoded.opts.wsPreEncodedFrame as Buffer[] | undefined;
    const frame = parts && (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    for (const id of ids) {
      const socket = this.nsp.sockets.get(id);
      if (!socket) continue;
      notifyOutgoing(socket, packet);
      if (!frame || !writeFrame(socket.conn, frame, mostHeld)) writePreEncoded(socket, encoded);
    }
  };
}

/** Queues a broadcast frame for the connection's TCP socket, or says it must go through Engine.IO. */
function writeFrame(conn: EngineSocket, frame: Buffer, mostHeld: number): boolean {
  if (conn.readyState !== 'open' || conn.transport.name !== 'websocket') return false;
  const ws = webSocketOf<WsSocket>(conn.transport);
  if (!ws) return false;
  // Closing (a drain ends thousands of connections): a write could only fail, at the cost of an error
  // object per packet. Engine.IO learns of the close in a moment; with recovery on, the client gets this
  // at its next connect.
  if (ws.readyState !== OPEN) return true;
  const queued = queuedFrames?.get(conn);
  if (queuedPackets(conn) > 0 || heldFor(ws, queued) > mostHeld) return false;
  queueFrame(conn, frame, queued);
  return true;
}

/**
 * What a connection holds: `ws`'s send buffer and the broadcast frames still queued for it (one stream
 * read can bring a hundred entries). The framed path and the slow-consumer guard both count this, so a
 * packet that crosses the bound is refused by the one and seen by the other.
 */
function heldFor(ws: WsSocket, queued: QueuedFrames | undefined): number {
  return ws.bufferedAmount + (queued?.bytes ?? 0);
}

/**
 * `ws` writes the 101 answer by itself, and Engine.IO's open packet follows a microtask later (its
 * handshake awaits the session id): two system calls at the relay and two reads at the client for every
 * connection, which a reconnect storm multiplies by thousands. Corked from the 101 to the end of this
 * loop turn, they leave in one write. (A handshake that fails after the 101 is aborted with a destroy,
 * which drops what is corked: the client sees the connection close, as it would after the 101 anyway.)
 */
function oneWriteOpening(io: Server): void {
  // Engine.IO passes on `ws`'s `headers` event, emitted just before the 101 is written.
  io.engine.on('headers', (_headers: unknown, req: IncomingMessage) => {
    if (req.headers.upgrade === undefined) return;
    const tcp = req.socket;
    tcp.cork();
    setImmediate(() => tcp.uncork());
  });
}

/**
 * Engine.IO hands a websocket transport everything queued in one send() (a recovery replay, a burst),
 * but `ws` writes each frame to the TCP socket by itself: a system call per packet, which made a replay
 * to thousands of reconnecting clients several times slower than on uWS. Corking the TCP socket for the
 * call turns it into one write.
 */
function corkBatches(transport: EngineTransport): void {
  if (transport.name !== 'websocket') return;
  const send = transport.send.bind(transport);
  transport.send = (packets: Parameters<EngineTransport['send']>[0]) => {
    if (packets.length < 2) return send(packets);
    corked(tcpOf(socketOf(transport)), () => send(packets));
  };
}

/** Runs `write` with the TCP socket corked: what it writes leaves in one system call. */
function corked(tcp: Socket, write: () => void): void {
  tcp.cork();
  try {
    write();
  } finally {
    tcp.uncork();
  }
}

const socketOf = (transport: unknown) => webSocketOf<WsSocket>(transport) as WsSocket;

const wsBuffer: WebSocketBuffer = {
  bufferedAmount: (conn) => heldFor(socketOf(conn.transport), queuedFrames?.get(conn)),
  // terminate(), not close(): a close frame would wait behind the unread data for up to 30 s.
  abort: (transport) => socketOf(transport).terminate(),
};
