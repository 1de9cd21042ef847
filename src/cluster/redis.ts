import { createClient } from 'redis';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';

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
 * Errors are counted on every occurrence but logged once per state change.
 */
export function connectRedis(url: string, deps: { log: Logger; metrics: Metrics }): RedisConnection {
  const client = createClient({ url });
  let up = false;
  client.on('ready', () => {
    if (!up) deps.log.info('redis connection ready', { redis: redactUrl(url) });
    up = true;
  });
  client.on('error', (err: Error) => {
    deps.metrics.redisErrors.inc({ client: 'main' });
    if (up) deps.log.warn('redis connection lost', { code: 'RLY_ERR_CLUSTER', error: err.message });
    up = false;
  });
  client.on('end', () => {
    up = false;
  });
  client.connect().catch((err: Error) => {
    deps.log.error('redis connect failed', { code: 'RLY_ERR_CLUSTER', error: err.message });
  });
  return {
    client,
    isReady: () => up && client.isReady,
    async flush() {
      if (client.isOpen) await client.ping();
    },
    async close() {
      if (client.isOpen) await client.quit();
    },
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
