import { spawn } from 'node:child_process';
import type { Server, Socket } from 'node:net';

/**
 * Node.js (libuv 1.45 and later) accepts one connection per listening descriptor per turn of the event
 * loop. An instance busy delivering live traffic turns its loop a few times a second, so in a reconnect
 * storm thousands of clients waited in the kernel's accept queue until their connect timed out (measured:
 * 3,594 queued, one accepted every 150–190 ms). More descriptors of the same listening socket take that
 * many connections per turn. Node 20 has no `reusePort`, but a listening server sent to a child process
 * over IPC comes back as a new descriptor: a short-lived child returns each copy.
 *
 * The child's own copies listen while it lives, so it sends back every connection they take, and closes
 * them when told; it then says `closed` and is killed. Its copies would otherwise keep the socket listening
 * after this process exits and take the connections of a relay restarted on the same port, and the
 * connections it took would be reset (a recovering client then came back as a new session).
 */
const BOUNCE = `
const copies = [];
process.on('message', (m, server) => {
  if (m === 'done') {
    for (const copy of copies) copy.close();
    process.send('closed');
    return;
  }
  copies.push(server);
  // Unread: what the client sent must reach the relay with the connection.
  server.pauseOnConnect = true;
  server.on('connection', (socket) => process.send('connection', socket));
  process.send('copy', server);
});`;

/** How long the child may take to hand the copies back before the relay goes on with one descriptor. */
const BOUNCE_TIMEOUT_MS = 5_000;

/**
 * Adds `count` descriptors of `server`'s listening socket to this process; each hands its connections to
 * `server`. Resolves with them (to close with the server), or with none if the copies could not be made.
 */
export async function addAcceptors(server: Server, count: number, backlog: number): Promise<Server[]> {
  const child = spawn(process.execPath, ['-e', BOUNCE], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  const copies: Server[] = [];
  const accept = (socket: Socket) => server.emit('connection', socket);
  // One listener for the whole exchange: the child's messages arrive in the order it sent them.
  const exchange = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no copies in time')), BOUNCE_TIMEOUT_MS).unref();
    child.once('error', reject);
    child.on('message', (message, handle) => {
      if (message === 'connection') return accept(handle as Socket);
      if (message === 'closed') {
        clearTimeout(timer);
        return resolve();
      }
      const copy = handle as Server;
      // At once: a copy listens as it arrives, and a connection it took without a listener would hang.
      copy.on('connection', accept);
      copies.push(copy);
      if (copies.length === count) child.send('done');
    });
  });
  try {
    for (let i = 0; i < count; i++) child.send('copy', server);
    await exchange;
  } catch {
    for (const copy of copies) copy.close();
    return [];
  } finally {
    child.kill('SIGKILL');
  }
  // Each copy was listened on again with Node's default backlog (511), which the kernel applies to the
  // one socket they share: listening once more restores the queue a storm needs.
  (server as unknown as { _handle: { listen(backlog: number): number } })._handle.listen(backlog);
  return copies;
}
