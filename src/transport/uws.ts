// The only module that touches uWebSockets.js: swap the dependency here to change builds.

import uWS from 'uWebSockets.js';
import type { Server, ServerOptions, Socket } from 'socket.io';
import type { Adapter, Room, SocketId } from 'socket.io-adapter';
import { ErrorCodes, RelayError } from '../errors.js';
import { scopeUwsIntegration, socketById, type UwsAdapterMethods, webSocketOf } from '../internals.js';
import {
  type BackpressurePolicy,
  type EngineTransport,
  SlowConsumerGuard,
  type WebSocketBuffer,
} from './backpressure.js';
import type { Page, PublicTransport } from './transport.js';

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
      scopeUwsIntegration(
        io,
        () => io.attachApp(app, { maxBackpressure: 0 } as Partial<ServerOptions>),
        skipClosedWebSockets,
      );
      new SlowConsumerGuard(backpressure, uwsBuffer).watch(io);
      app.get('/', (res) => {
        res.writeHeader('content-type', page.contentType).end(page.body);
      });
      app.any('/*', (res) => {
        res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found');
      });
    },
    connected: subscribeRecovered,
    listen(host: string, port: number) {
      return new Promise<number>((resolve, reject) => {
        app.listen(host, port, (token) => {
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
  bufferedAmount(transport) {
    const { socket, readyState } = transport as UwsEngineTransport;
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
  for (const room of socket.rooms) ws.subscribe(`${nsp}${TOPIC_SEPARATOR}${room}`);
}

/**
 * Works around socket.io's uWS integration for joins and leaves that land after the client left (a
 * backend's reply to a handshake, say): its `addAll` and `del` (un)subscribe the socket's uWS WebSocket,
 * and a closed uWS WebSocket throws on any access. Such a socket is about to be cleaned up; its rooms
 * change without the (un)subscription.
 */
function skipClosedWebSockets(uws: UwsAdapterMethods, plain: UwsAdapterMethods): UwsAdapterMethods {
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
