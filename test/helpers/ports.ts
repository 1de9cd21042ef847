import { createServer } from 'node:net';

/**
 * Fixed ports come from 10000–19999, below the kernel's ephemeral range (32768–60999 by default): a
 * port chosen there can be taken by any outgoing connection (a client, a Redis link, a health check)
 * before the server binds it, or while it restarts. A Redis Cluster node's bus port (+10000) stays below
 * that range too.
 */
const FIRST_PORT = 10_000;
const PORT_COUNT = 10_000;
/** Each test process starts at its own place in the range; within one, a port is handed out once. */
let next = Math.floor(Math.random() * PORT_COUNT);

/** A port that was free a moment ago on 127.0.0.1 (for servers that must come back on the same port). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < PORT_COUNT; tried++) {
    const port = FIRST_PORT + (next++ % PORT_COUNT);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${FIRST_PORT}–${FIRST_PORT + PORT_COUNT - 1} on 127.0.0.1`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
