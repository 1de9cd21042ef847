import { io as connect, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { waitFor } from './processes.js';

const open = new Set<Socket>();

/** A socket.io-client that reconnects quickly; resolves once connected. */
export async function client(
  url: string,
  opts: Partial<ManagerOptions & SocketOptions> = {},
  namespace = '/',
): Promise<Socket> {
  const socket = connect(`${url}${namespace === '/' ? '' : namespace}`, {
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    ...opts,
  });
  open.add(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      // A refused handshake deactivates the socket; a failed transport does so only without reconnection.
      if (!socket.active || opts.reconnection === false) {
        socket.disconnect();
        reject(err);
      }
    });
  });
  return socket;
}

export function closeClients(): void {
  for (const socket of open) socket.disconnect();
  open.clear();
}

/** Emits with an ack and resolves with the ack's first argument. */
export function ask<T = Record<string, unknown>>(
  socket: Socket,
  event: string,
  ...args: unknown[]
): Promise<T> {
  return socket.timeout(5_000).emitWithAck(event, ...args) as Promise<T>;
}

/** Every payload `event` delivers to `socket`, in arrival order. */
export function collect<T = unknown>(socket: Socket, event: string): T[] {
  const received: T[] = [];
  socket.on(event, (data: T) => received.push(data));
  return received;
}

/** Waits until `list` holds at least `n` entries. */
export function received<T>(what: string, list: T[], n: number, timeoutMs = 10_000): Promise<T[]> {
  return waitFor(`${what} (${list.length}/${n})`, () => (list.length >= n ? list : undefined), timeoutMs);
}

/**
 * Proves that nothing more is on its way to `lists` from what was broadcast before: `publish` sends `marker`
 * down the same path, and this waits until every list holds it. A namespace's broadcasts travel in one
 * stream, which every instance reads and delivers in order, so once the marker is in, everything published
 * before it has been delivered, and whatever would have come twice has come. Streams adapter only: the
 * Pub/Sub adapters give no single order across instances.
 */
export async function fence<T>(
  lists: T[][],
  marker: T,
  publish: (marker: T) => Promise<unknown>,
): Promise<void> {
  await publish(marker);
  const holds = (list: T[]) => list.some((m) => JSON.stringify(m) === JSON.stringify(marker));
  await waitFor(`the fence ${JSON.stringify(marker)}`, () => lists.every(holds));
}
