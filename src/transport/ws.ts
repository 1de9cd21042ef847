import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Server } from 'socket.io';
import { ErrorCodes, RelayError } from '../errors.js';
import { tcpOf, webSocketOf, wrapFlush } from '../internals.js';
import { addAcceptors } from './acceptors.js';
import {
  type BackpressurePolicy,
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
      new SlowConsumerGuard(backpressure, wsBuffer).watch(io);
      io.engine.on('connection', (conn: EngineSocket) => {
        holdFlushesTogether(conn);
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
      if (held) return deliver();
      held = new Map();
      const flushes = held;
      try {
        deliver();
      } finally {
        held = undefined;
        for (const flush of flushes.values()) flush();
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
  bufferedAmount: number;
  terminate(): void;
}

/**
 * The connections whose flush waits for the end of the `together` burst running now, with their flush.
 * Engine.IO sends a connection's first packet at once and queues the rest until that write completes:
 * without holding, a burst of n packets to a connection took two system calls, with it one (corkBatches).
 * An overloaded relay reads more entries per stream read, so its cost per delivery falls as load rises.
 */
let held: Map<EngineSocket, () => void> | undefined;

function holdFlushesTogether(conn: EngineSocket): void {
  wrapFlush(conn, (flush) => () => {
    if (held && conn.transport.name === 'websocket') held.set(conn, flush);
    else flush();
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
  bufferedAmount: (transport) => socketOf(transport).bufferedAmount,
  // terminate(), not close(): a close frame would wait behind the unread data for up to 30 s.
  abort: (transport) => socketOf(transport).terminate(),
};
