import type { Server } from 'socket.io';

/** Sockets closed per event-loop turn while draining, so the loop keeps answering probes. */
const BATCH = 500;

/**
 * Closes every client connection as a transport close (not a server-side disconnect): Socket.IO persists
 * each socket's session for connection state recovery and the client reconnects by itself, elsewhere.
 */
export async function closeAllForRecovery(io: Server): Promise<number> {
  const conns = new Set<{ close(): void }>();
  for (const nsp of io._nsps.values()) for (const socket of nsp.sockets.values()) conns.add(socket.conn);
  let closed = 0;
  for (const conn of conns) {
    conn.close();
    if (++closed % BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return closed;
}
