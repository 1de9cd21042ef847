// The only module that touches uWebSockets.js: swap the dependency here to change builds.

import uWS from 'uWebSockets.js';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import type { Adapter, Room, SocketId } from 'socket.io-adapter';
import { ErrorCodes, RelayError } from '../errors.js';
import {
  type AdapterMethods,
  encodeWithAdapter,
  hookUwsEngine,
  scopeUwsIntegration,
  socketById,
  webSocketOf,
} from '../internals.js';
import {
  type BackpressurePolicy,
  type EngineTransport,
  SlowConsumerGuard,
  type WebSocketBuffer,
} from './backpressure.js';
import type { Page, PublicTransport } from './transport.js';

/** uWS's `LIBUS_LISTEN_EXCLUSIVE_PORT` (its typings declare the enum, the binary has only the value). */
const LISTEN_EXCLUSIVE_PORT = 1;

/** Socket.IO's uWS integration names pub/sub topics `<namespace><US><room>`; the bare namespace is a topic too. */
const TOPIC_SEPARATOR = '\x1f';

export function createUwsTransport(): PublicTransport {
  const app = uWS.App();
  let listenSocket: uWS.us_listen_socket | null = null;

  return {
    name: 'uws',
    attach(io: Server, page: Page, backpressure: BackpressurePolicy) {
      // 0: no limit. uWS would skip (lose) sends to a socket over its limit, even mid-replay; the guard
      // closes such a socket instead. Engine.IO passes the option on; Socket.IO's type does not list it.
      const attachApp = () => {
        io.attachApp(app, { maxBackpressure: 0 } as Partial<ServerOptions>);
        return io.engine;
      };
      scopeUwsIntegration(
        io,
        () => hookUwsEngine(attachApp, { request: sayConnectionClose, upgrade: closeRefusedUpgrades }),
        (uws, plain) => ({
          ...skipClosedWebSockets(ownRoomWithoutTopic(uws, plain), plain),
          broadcast: topicPublishAlone(app, uws.broadcast, plain.broadcast),
        }),
      );
      new SlowConsumerGuard(backpressure, uwsBuffer).watch(io);
      app.get('/', (res, req) => {
        sayConnectionClose(res, req);
        res.writeHeader('content-type', page.contentType).end(page.body);
      });
      app.any('/*', (res, req) => {
        sayConnectionClose(res, req);
        res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found');
      });
    },
    connected(socket) {
      trackPolling(socket);
      subscribeRecovered(socket);
    },
    listen(host: string, port: number) {
      return new Promise<number>((resolve, reject) => {
        // Exclusive: uWS would otherwise bind with SO_REUSEPORT, and a second instance on a taken port would
        // start and silently share it.
        const listen = app.listen as unknown as (
          host: string,
          port: number,
          options: number,
          cb: (token: uWS.us_listen_socket | false) => void,
        ) => void;
        listen.call(app, host, port, LISTEN_EXCLUSIVE_PORT, (token) => {
          if (!token) {
            reject(new RelayError(ErrorCodes.LISTEN, `could not listen on ${host}:${port} (uws)`));
            return;
          }
          listenSocket = token;
          resolve(uWS.us_socket_local_port(token));
        });
      });
    },
    stopAccepting() {
      // io.close() leaves the uWS listen socket open; only this stops new connections.
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
    },
    // Broadcasts to WebSockets are uWS topic publishes, which uWS queues and sends corked, per subscriber,
    // once per event loop iteration: a burst is already together.
    together: (deliver) => deliver(),
    batch(socket, write) {
      // Outside its own callbacks uWS sends at once, a system call per packet; corked, one for all.
      const { socket: ws, readyState, name } = socket.conn.transport as UwsEngineTransport;
      if (name === 'websocket' && ws && readyState !== 'closed') ws.cork(write);
      else write();
    },
  };
}

/** What Engine.IO's uWS transport keeps of its connection (`socket` is set once the WebSocket opens). */
type UwsEngineTransport = EngineTransport & { socket?: uWS.WebSocket<unknown>; readyState: string };

const uwsBuffer: WebSocketBuffer = {
  bufferedAmount(conn) {
    const { socket, readyState } = conn.transport as UwsEngineTransport;
    // A closed uWS WebSocket throws on any access.
    return socket && readyState !== 'closed' ? socket.getBufferedAmount() : 0;
  },
  abort(transport) {
    const { socket, readyState } = transport as UwsEngineTransport;
    // Forceful: no close frame, which would only queue behind what the client does not read.
    if (socket && readyState !== 'closed') socket.close();
  },
};

/**
 * uWS closes a connection whose request said `Connection: close` without saying so in its answer. Node's
 * keep-alive agent (under node-fetch and most Node clients) then reuses the closed socket for its next
 * request, which fails with "socket hang up". Every answer to such a request says it.
 */
function sayConnectionClose(res: unknown, req: unknown): void {
  if (!/\bclose\b/i.test((req as uWS.HttpRequest).getHeader('connection'))) return;
  const response = res as uWS.HttpResponse;
  const end = response.end;
  response.end = function (this: uWS.HttpResponse, ...args: Parameters<uWS.HttpResponse['end']>) {
    this.writeHeader('Connection', 'close');
    return end.apply(this, args);
  };
}

/**
 * Engine.IO refuses a WebSocket for a session that is gone, or already upgraded (or upgrading), by
 * dropping the connection on uWS, with no HTTP answer: clients report an error ("socket hang up"). On
 * Node's http server it accepts the WebSocket and closes it at once, an ordinary close for every client.
 * This does the same on uWS.
 */
function closeRefusedUpgrades(res: unknown, req: unknown, context: unknown): void {
  const request = req as uWS.HttpRequest;
  const key = request.getHeader('sec-websocket-key');
  const protocol = request.getHeader('sec-websocket-protocol');
  const extensions = request.getHeader('sec-websocket-extensions');
  const response = res as uWS.HttpResponse;
  response.close = function (this: uWS.HttpResponse) {
    this.cork(() =>
      this.upgrade(
        { transport: refusedTransport() },
        key,
        protocol,
        extensions,
        context as uWS.us_socket_context_t,
      ),
    );
    return this;
  };
}

/** What Engine.IO's uWS handlers call on a WebSocket's transport, for one it refused: closed when open. */
function refusedTransport() {
  return {
    socket: undefined as uWS.WebSocket<unknown> | undefined,
    writable: false,
    emit(event: string) {
      if (event === 'ready') this.socket?.end(1000);
    },
    onData() {},
    onClose() {},
  };
}

/** Per namespace, its connected sockets that are not on WebSocket (long-polling, not upgraded yet). */
const pollingSockets = new WeakMap<Namespace, Set<Socket>>();

function trackPolling(socket: Socket): void {
  if (socket.conn.transport.name === 'websocket') return;
  let polling = pollingSockets.get(socket.nsp);
  if (!polling) {
    polling = new Set();
    pollingSockets.set(socket.nsp, polling);
  }
  polling.add(socket);
  const forget = () => polling.delete(socket);
  socket.conn.once('upgrade', () => {
    forget();
    // Socket.IO's integration subscribed every room of the socket when it upgraded, its own included.
    webSocketOf<uWS.WebSocket<unknown>>(socket.conn.transport)?.unsubscribe(
      topicOf(socket.nsp.name, socket.id),
    );
  });
  socket.once('disconnect', forget);
}

/** A room's uWS topic. */
function topicOf(nsp: string, room: Room): string {
  return `${nsp}${TOPIC_SEPARATOR}${room}`;
}

/**
 * A socket's own room (its id) gets no uWS topic: a topic of its own cost each idle connection about 400
 * bytes of native memory, and a message to one socket is one write anyway. Broadcasts to such a
 * room take the in-memory adapter's path (see `topicPublishAlone`).
 */
function ownRoomWithoutTopic(uws: AdapterMethods, plain: AdapterMethods): AdapterMethods {
  return {
    ...uws,
    addAll(this: Adapter, id: SocketId, rooms: Set<Room>) {
      if (!rooms.has(id)) return uws.addAll.call(this, id, rooms);
      const others = new Set(rooms);
      others.delete(id);
      // First: with no rooms, it still subscribes a new socket to its namespace's topic.
      uws.addAll.call(this, id, others);
      plain.addAll.call(this, id, new Set([id]));
    },
  };
}

/**
 * Socket.IO's uWS broadcast publishes to the room's topic, which reaches every WebSocket in it, and then
 * walks every socket of the room to write to the long-polling ones: at 5,000 sockets in a room that walk
 * was most of the cost of a live broadcast (0.99 of 1.35 s in a recovery storm's profile). When the
 * namespace has no socket off WebSocket, the topic publish alone does it. Other broadcasts (several
 * rooms, exceptions, polling sockets present) take Socket.IO's path.
 */
function topicPublishAlone(
  app: uWS.TemplatedApp,
  socketIoBroadcast: AdapterMethods['broadcast'],
  plainBroadcast: AdapterMethods['broadcast'],
): AdapterMethods['broadcast'] {
  return function (this: Adapter, packet, opts) {
    const [room] = opts.rooms;
    // A socket's own room has no topic (see ownRoomWithoutTopic): its socket is written to directly.
    if (opts.rooms.size === 1 && this.sids.has(room as Room)) return plainBroadcast.call(this, packet, opts);
    const onlyWebSockets = (pollingSockets.get(this.nsp)?.size ?? 0) === 0;
    if (opts.rooms.size > 1 || (opts.except?.size ?? 0) > 0 || !onlyWebSockets) {
      return socketIoBroadcast.call(this, packet, opts);
    }
    const nsp = this.nsp.name;
    const topic = room === undefined ? nsp : topicOf(nsp, room);
    for (const part of encodeWithAdapter(this, { ...packet, nsp })) {
      // An Engine.IO message ('4') carries the Socket.IO packet; binary attachments go as they are.
      if (typeof part === 'string') app.publish(topic, `4${part}`, false);
      else app.publish(topic, part, true);
    }
  };
}

/**
 * Works around socket.io's uWS integration for sockets restored by connection state recovery: their rooms
 * are joined in the Socket constructor, before the socket is registered, so the patched `addAll` never
 * subscribes the uWS connection to the namespace or room topics and live broadcasts would miss them.
 */
function subscribeRecovered(socket: Socket): void {
  if (!socket.recovered) return;
  if (socket.conn.transport.name === 'websocket') subscribeAll(socket);
  else socket.conn.once('upgrade', () => subscribeAll(socket));
}

function subscribeAll(socket: Socket): void {
  if (!socket.connected) return;
  const ws = webSocketOf<uWS.WebSocket<unknown>>(socket.conn.transport);
  if (!ws) return;
  const nsp = socket.nsp.name;
  ws.subscribe(nsp);
  for (const room of socket.rooms) if (room !== socket.id) ws.subscribe(topicOf(nsp, room));
}

/**
 * Works around socket.io's uWS integration for joins and leaves that land after the client left (a
 * backend's reply to a handshake, say): its `addAll` and `del` (un)subscribe the socket's uWS WebSocket,
 * and a closed uWS WebSocket throws on any access. Such a socket is about to be cleaned up; its rooms
 * change without the (un)subscription.
 */
function skipClosedWebSockets(uws: AdapterMethods, plain: AdapterMethods): AdapterMethods {
  const closed = (adapter: Adapter, id: SocketId) => {
    const transport = socketById(adapter.nsp, id)?.conn.transport as UwsEngineTransport | undefined;
    return transport?.name === 'websocket' && transport.readyState === 'closed';
  };
  return {
    addAll(this: Adapter, id: SocketId, rooms: Set<Room>) {
      return (closed(this, id) ? plain : uws).addAll.call(this, id, rooms);
    },
    del(this: Adapter, id: SocketId, room: Room) {
      return (closed(this, id) ? plain : uws).del.call(this, id, room);
    },
    broadcast: uws.broadcast,
  };
}
