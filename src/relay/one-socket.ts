import type { Namespace, Socket } from 'socket.io';
import { type ErrorCode, ErrorCodes } from '../errors.js';
import { socketAlive, socketOfConnection } from '../internals.js';

/** The socket each client connection has started in each namespace (the Socket.IO client object is the key). */
const started = new WeakMap<object, Map<string, string>>();

/**
 * A middleware that gives each client connection at most one socket per namespace, and refuses new
 * sockets while the instance is at --max-connections. Socket.IO itself lets one connection open any
 * number of sockets in a namespace: one long-polling POST of repeated CONNECT packets made 100,000 of them,
 * whatever the connection cap was.
 */
export function oneSocketPerConnection(nsp: Namespace, atCapacity: () => boolean): void {
  nsp.use((socket, next) => {
    const refuse = (code: ErrorCode, message: string) => {
      const err = new Error(message) as Error & { data: unknown };
      err.data = { code };
      next(err);
    };
    if (atCapacity()) return refuse(ErrorCodes.ADMISSION, 'at --max-connections');
    const client = socket.client as object;
    let mine = started.get(client);
    if (!mine) {
      mine = new Map();
      started.set(client, mine);
    }
    const other = socketOfConnection(socket) ?? mine.get(nsp.name);
    if (other !== undefined && other !== socket.id && socketAlive(socket, other)) {
      return refuse(ErrorCodes.BAD_REQUEST, `this connection already has a socket in ${nsp.name}`);
    }
    mine.set(nsp.name, socket.id);
    next();
  });
}

/** Sockets connected to every namespace of this instance. */
export function socketCount(namespaces: Iterable<{ sockets: Map<string, Socket> }>): number {
  let count = 0;
  for (const nsp of namespaces) count += nsp.sockets.size;
  return count;
}
