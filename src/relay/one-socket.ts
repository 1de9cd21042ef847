import type { Socket } from 'socket.io';
import { ErrorCodes } from '../errors.js';
import { socketById, socketOfConnection } from '../internals.js';
import { type AdmitStep, refusal } from './pipeline.js';

/** The socket each client connection has started in each namespace (the Socket.IO client object is the key). */
const started = new WeakMap<object, Map<string, string>>();

/**
 * Admits at most one socket per namespace per client connection, and no new socket while the instance is
 * at --max-connections. Socket.IO itself lets one connection open any number of sockets in a namespace:
 * one long-polling POST of repeated CONNECT packets made 100,000 of them, whatever the connection cap was.
 */
export function oneSocketPerConnection(atCapacity: () => boolean): AdmitStep {
  return (socket, next) => {
    if (atCapacity()) return next(refusal(ErrorCodes.ADMISSION, 'at --max-connections'));
    const namespace = socket.nsp.name;
    const client = socket.client as object;
    let mine = started.get(client);
    if (!mine) {
      mine = new Map();
      started.set(client, mine);
    }
    const other = socketOfConnection(socket) ?? mine.get(namespace);
    if (other !== undefined && other !== socket.id && socketById(socket.nsp, other)) {
      return next(refusal(ErrorCodes.BAD_REQUEST, `this connection already has a socket in ${namespace}`));
    }
    mine.set(namespace, socket.id);
    next();
  };
}

/** CONNECT packets one connection may send: a burst of this many, then this many per second. */
const CONNECT_BURST = 16;
const CONNECTS_PER_SECOND = 4;

/** The part of an Engine.IO server and its connections used here. */
interface EngineServer {
  on(event: 'connection', listener: (conn: EngineConnection) => void): unknown;
}
interface EngineConnection {
  prependListener(event: 'data', listener: (data: unknown) => void): unknown;
  close(): void;
}

/**
 * Closes a connection that floods CONNECT packets. A client sends one per namespace, and again after a
 * refusal: a burst of 16 and 4 a second more is plenty. Without this bound, one polling POST of 100,000
 * CONNECTs carrying a forged recovery `pid` cost 100,000 session reads in Redis, since Socket.IO tries a
 * restore before any middleware runs. Runs before Socket.IO decodes the packet.
 */
export function limitConnects(engine: EngineServer): void {
  engine.on('connection', (conn) => {
    let tokens = CONNECT_BURST;
    let at = Date.now();
    conn.prependListener('data', (data) => {
      // A Socket.IO CONNECT is a text packet of type 0.
      if (typeof data !== 'string' || !data.startsWith('0')) return;
      const now = Date.now();
      tokens = Math.min(CONNECT_BURST, tokens + ((now - at) / 1000) * CONNECTS_PER_SECOND) - 1;
      at = now;
      if (tokens < 0) conn.close();
    });
  });
}

/** Sockets connected to every namespace of this instance. */
export function socketCount(namespaces: Iterable<{ sockets: Map<string, Socket> }>): number {
  let count = 0;
  for (const nsp of namespaces) count += nsp.sockets.size;
  return count;
}
