import type { Server, Socket } from 'socket.io';
import type { TransportName } from '../config/schema.js';
import type { BackpressurePolicy } from './backpressure.js';

/** A static page served at `/` of the public port. */
export interface Page {
  contentType: string;
  body: string;
}

/** The public listener a Socket.IO server is attached to. Both kinds serve WebSocket and long-polling. */
export interface PublicTransport {
  readonly name: TransportName;
  /**
   * Attaches Socket.IO and serves `page` at `/`; anything else not under /socket.io/ answers 404.
   * Connections that stop reading are dropped by `backpressure`.
   */
  attach(io: Server, page: Page, backpressure: BackpressurePolicy): void;
  /** Binds the public port; resolves with the port actually bound (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting new TCP connections; the connections already open keep being served. */
  stopAccepting(): void;
  /** Runs `write`, whose writes to the socket's connection go out in as few system calls as possible. */
  batch(socket: Socket, write: () => void): void;
  /**
   * Runs `deliver`, a burst of deliveries to many sockets (one read of the cluster stream): each
   * connection's share of it goes out in one system call, not one per packet.
   */
  together(deliver: () => void): void;
  /** What the transport needs done for each connected socket, right after recovery's replay. */
  connected?: (socket: Socket) => void;
}

/**
 * Loads the transport module on demand, so `--transport ws` works even where the uWebSockets.js binary
 * cannot load.
 */
export async function createTransport(name: TransportName): Promise<PublicTransport> {
  if (name === 'uws') return (await import('./uws.js')).createUwsTransport();
  return (await import('./ws.js')).createWsTransport();
}
