import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { after, before } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { createClient } from 'redis';
import type { RedisClient } from '../../src/cluster/redis.js';
import { freePort } from './ports.js';
import { exited, track, waitFor } from './processes.js';
import { toolAvailable } from './tools.js';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills it (SIGKILL): with no persistence, everything it held is gone. */
  stop(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing is answered, as on a hung host. */
  freeze(): void;
  /** Lets a frozen one go on (SIGCONT). */
  thaw(): void;
}

/** PEM files for a TLS-only redis-server. */
export interface RedisTls {
  cert: string;
  key: string;
  ca: string;
}

export interface RedisOptions {
  /** The port to listen on, e.g. to come back where a killed one was; default: a free one. */
  port?: number;
  /** Serve TLS only (`rediss://`), on `port`; clients are not asked for certificates. */
  tls?: RedisTls;
}

/**
 * For a `describe` block: a throwaway `redis-server` and a client connected to it, from its `before` to
 * its `after`. `server` stays undefined when redis-server is not installed (outside CI: see toolAvailable).
 */
export function suiteRedis(): { server?: RedisServer; client: RedisClient } {
  const suite = {} as { server?: RedisServer; client: RedisClient };
  before(async () => {
    if (!toolAvailable('redis-server')) return;
    suite.server = await startRedis();
    suite.client = createClient({ url: suite.server.url });
    await suite.client.connect();
  });
  after(async () => {
    await suite.client?.quit();
    await suite.server?.stop();
  });
  return suite;
}

/** Starts a throwaway `redis-server` on a loopback port, without persistence. */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const listen = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert]
        .concat(['--tls-key-file', opts.tls.key, '--tls-ca-cert-file', opts.tls.ca])
        .concat(['--tls-auth-clients', 'no'])
    : ['--port', String(port)];
  const child = track(
    spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    }),
  );
  const ca = opts.tls && readFileSync(opts.tls.ca);
  await waitFor(`redis-server on port ${port}`, () => ping(port, ca));
  return {
    port,
    url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGKILL');
      await exited(child);
    },
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
  };
}

function ping(port: number, ca: Buffer | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const hello = () => socket.write('PING\r\n');
    const socket: Socket = ca
      ? tlsConnect({ port, host: '127.0.0.1', ca }, hello)
      : createConnection({ port, host: '127.0.0.1' }, hello);
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

/** One command to the Redis on `port`; undefined when it cannot be reached or refuses. */
export async function redisCommand(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ socket: { port, host: '127.0.0.1', reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.sendCommand(args);
  } catch {
    return undefined;
  } finally {
    if (client.isOpen) await client.disconnect();
  }
}
