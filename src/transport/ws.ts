import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'socket.io';
import { ErrorCodes, RelayError } from '../errors.js';
import { type BackpressurePolicy, SlowConsumerGuard, type WebSocketBuffer } from './backpressure.js';
import type { Page, PublicTransport } from './transport.js';

/** Socket.IO's standard engine: Node's http server with the `ws` package for WebSocket. */
export function createWsTransport(): PublicTransport {
  let page: Page = { contentType: 'text/plain', body: '' };
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
    },
    listen(host: string, port: number) {
      return new Promise<number>((resolve, reject) => {
        server.once('error', (err) =>
          reject(
            new RelayError(ErrorCodes.LISTEN, `could not listen on ${host}:${port} (ws)`, { cause: err }),
          ),
        );
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      });
    },
    stopAccepting() {
      server.close();
      // Keep-alive connections could otherwise carry a new handshake to a dying instance.
      server.closeIdleConnections();
    },
  };
}

/** The part of a `ws` WebSocket used here. */
interface WsSocket {
  bufferedAmount: number;
  terminate(): void;
}

/** Engine.IO's websocket transport keeps the `ws` WebSocket as `socket` (not in its public types). */
const socketOf = (transport: unknown) => (transport as { socket: WsSocket }).socket;

const wsBuffer: WebSocketBuffer = {
  bufferedAmount: (transport) => socketOf(transport).bufferedAmount,
  // terminate(), not close(): a close frame would wait behind the unread data for up to 30 s.
  abort: (transport) => socketOf(transport).terminate(),
};
