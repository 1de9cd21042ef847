import { createClient } from 'redis';
import type { HostPort } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createClusterClient } from './redis-cluster.js';
import type { MasterAddress } from './sentinel.js';

export type RedisClient = ReturnType<typeof createClient>;

/** The relay's main Redis connection: the adapter publishes and persists sessions through it. */
export interface RedisConnection {
  readonly client: RedisClient;
  /** True while the connection is up; readiness follows it. */
  isReady(): boolean;
  /** Resolves once every command sent so far has been answered (Redis answers in order per connection). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects in the background: the relay serves local clients while Redis is away, and readiness says so.
 * node-redis reconnects by itself. Errors are counted on every occurrence but logged once per state
 * change. Commands fail at once while Redis is away instead of queueing until it returns: a join, a
 * publish or an admin request answers now (the publish with RLY_ERR_CLUSTER), and a long outage does not
 * pile up commands in memory.
 */
export function connectRedis(target: RedisTarget, deps: { log: Logger; metrics: Metrics }): RedisConnection {
  const client = target.cluster
    ? createClusterClient(target.cluster, { url: target.url, disableOfflineQueue: true })
    : createClient({ ...clientOptions(target), disableOfflineQueue: true });
  const where = target.cluster
    ? `cluster ${target.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`
    : target.master
      ? `sentinel master ${target.master.host}:${target.master.port}`
      : redactUrl(target.url ?? '');
  let state: 'connecting' | 'up' | 'down' = 'connecting';
  let downSince = Date.now();
  client.on('ready', () => {
    if (state !== 'up') {
      const outage = state === 'down' ? { unavailableMs: Date.now() - downSince } : {};
      deps.log.info('redis connection ready', { redis: where, ...outage });
    }
    state = 'up';
  });
  client.on('error', (err: Error) => {
    deps.metrics.redisErrors.inc({ client: 'main' });
    if (state === 'down') return;
    if (state === 'up') downSince = Date.now();
    deps.log.warn(state === 'up' ? 'redis connection lost' : 'redis unavailable', {
      code: 'RLY_ERR_CLUSTER',
      redis: where,
      error: err.message,
    });
    state = 'down';
  });
  client.on('end', () => {
    state = 'down';
  });
  client.connect().catch((err: Error) => {
    deps.log.error('redis connect failed', { code: 'RLY_ERR_CLUSTER', error: err.message });
  });
  return {
    client,
    isReady: () => state === 'up' && client.isReady,
    async flush() {
      if (client.isOpen) await client.ping();
    },
    async close() {
      if (client.isOpen) await client.quit();
    },
  };
}

/** Where Redis is: a URL, or a Sentinel-tracked master (the URL then gives only credentials and db). */
export interface RedisTarget {
  url?: string | undefined;
  master?: MasterAddress | undefined;
  /** Nodes of a Redis Cluster (the URL then gives only credentials). */
  cluster?: readonly HostPort[] | undefined;
}

function clientOptions(target: RedisTarget) {
  if (!target.master) return { url: target.url };
  // The master object itself, not a copy: the Sentinel watch updates it and reconnects read it.
  if (!target.url) return { socket: target.master };
  const url = new URL(target.url);
  const database = Number(url.pathname.slice(1) || 0);
  return {
    socket: target.master,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    database,
  };
}

/** A Redis URL safe to log: the password is masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparsable url]';
  }
}
