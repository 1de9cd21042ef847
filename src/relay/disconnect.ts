import type { Server, Socket } from 'socket.io';
import { namespacesOf } from '../internals.js';

/** Floor of the default drain rate: below this, spreading disconnects buys nothing. */
const MIN_DEFAULT_RATE = 200;
/** Pacing granularity: disconnects are sent in small batches this often. */
const TICK_MS = 50;

/**
 * Disconnects per second for a drain: the configured rate, or one that closes every connection within
 * half of the drain timeout (the rest is left for flushing and closing).
 */
export function drainRate(
  connections: number,
  configured: number | undefined,
  drainTimeoutMs: number,
): number {
  if (configured !== undefined) return configured;
  return Math.max(MIN_DEFAULT_RATE, Math.ceil(connections / (drainTimeoutMs / 2 / 1000)));
}

/** Every client connection of the server (one per client, whatever its namespaces). */
export function connections(io: Server): Set<Socket['conn']> {
  const conns = new Set<Socket['conn']>();
  for (const nsp of namespacesOf(io)) for (const socket of nsp.sockets.values()) conns.add(socket.conn);
  return conns;
}

/**
 * Closes the given connections at `ratePerSecond` with `close` (a dropped transport, not a server-side
 * disconnect): Socket.IO persists each session and the client reconnects by itself, elsewhere, without
 * a storm.
 */
export async function closeAtRate<C>(
  conns: Iterable<C>,
  ratePerSecond: number,
  close: (conn: C) => void,
): Promise<number> {
  const started = Date.now();
  let closed = 0;
  for (const conn of conns) {
    close(conn);
    closed++;
    const dueMs = (closed / ratePerSecond) * 1000 - (Date.now() - started);
    if (dueMs >= TICK_MS) await new Promise((resolve) => setTimeout(resolve, dueMs));
  }
  return closed;
}
