import type { Socket } from 'socket.io';
import { ErrorCodes } from '../errors.js';
import { socketById, socketOfConnection } from '../internals.js';
import { type AdmitStep, type ConnectStep, refusal } from './pipeline.js';
import { spendToken } from './token-bucket.js';

/**
 * Admits at most one socket per namespace per client connection, and no new socket while the instance is
 * at --max-connections. Socket.IO itself lets one connection open any number of sockets in a namespace:
 * one long-polling POST of repeated CONNECT packets made 100,000 of them, whatever the connection cap was.
 * Call once per namespace: `admit` is its first admit step, `connected` one of its connect steps.
 */
export function oneSocketPerConnection(atCapacity: () => boolean): {
  admit: AdmitStep;
  connected: ConnectStep;
} {
  // The socket each client connection (its Socket.IO client object) has started here, until it connects:
  // from then on the client's own table of namespaces holds it.
  const started = new WeakMap<object, string>();
  return {
    admit(socket, next) {
      if (atCapacity()) return next(refusal(ErrorCodes.ADMISSION, 'at --max-connections'));
      const other = socketOfConnection(socket) ?? started.get(socket.client);
      if (other !== undefined && other !== socket.id && socketById(socket.nsp, other)) {
        return next(
          refusal(ErrorCodes.BAD_REQUEST, `this connection already has a socket in ${socket.nsp.name}`),
        );
      }
      started.set(socket.client, socket.id);
      next();
    },
    connected(socket) {
      started.delete(socket.client);
    },
  };
}

/** CONNECT packets one connection may send: a burst of this many, then this many per second. */
const CONNECT_BURST = 16;
const CONNECTS_PER_SECOND = 4;

/** The part of an Engine.IO server and its connections used here. */
interface EngineServer {
  on(event: 'connection', listener: (conn: EngineConnection) => void): unknown;
}
export interface EngineConnection {
  prependListener(event: 'data', listener: (this: EngineConnection, data: unknown) => void): unknown;
  close(): void;
}

/**
 * Closes a connection that floods CONNECT packets. A client sends one per namespace, and again after a
 * refusal: a burst of 16 and 4 a second more is plenty. Without this bound, one polling POST of 100,000
 * CONNECTs carrying a forged recovery `pid` cost 100,000 session reads in Redis, since Socket.IO tries a
 * restore before any middleware runs. Runs before Socket.IO decodes the packet.
 */
export function limitConnects(engine: EngineServer, now: () => number = Date.now): void {
  // Per connection one number (spendToken), in ms from `origin`, small enough to be held unboxed. One
  // listener for every connection, which Engine.IO calls with the connection as `this`: a closure each
  // cost every idle connection about 200 bytes.
  const origin = now();
  const wholeAt = new WeakMap<EngineConnection, number>();
  function onData(this: EngineConnection, data: unknown): void {
    // A Socket.IO CONNECT is a text packet of type 0.
    if (typeof data !== 'string' || !data.startsWith('0')) return;
    const next = spendToken(wholeAt.get(this), now() - origin, CONNECTS_PER_SECOND, CONNECT_BURST);
    if (next === undefined) this.close();
    else wholeAt.set(this, next);
  }
  engine.on('connection', (conn) => conn.prependListener('data', onData));
}

/** Sockets connected to every namespace of this instance. */
export function socketCount(namespaces: Iterable<{ sockets: Map<string, Socket> }>): number {
  let count = 0;
  for (const nsp of namespaces) count += nsp.sockets.size;
  return count;
}
