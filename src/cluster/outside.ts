import { createClient } from 'redis';
import { hostPorts } from '../config/values.js';
import type { RedisClient } from './redis.js';
import { createClusterClient } from './redis-cluster.js';

/** How a process outside the relays (a queue backend, an emitter) reaches their Redis. */
export interface OutsideRedisOptions {
  /** Redis of the relay cluster (redis:// or rediss://). With `redisCluster`, only its credentials count. */
  redisUrl?: string;
  /** The relays' `--redis-cluster` nodes: "host:port,host:port" or a list. */
  redisCluster?: string | readonly string[];
  /** The relays' `--stream-count` (default 1): which stream carries each namespace. */
  streamCount?: number;
  /**
   * Hears every error survived along the way (a lost connection, a failed read or claim, a job that could
   * not be answered and stays pending) while work goes on and is retried. Default: one line on stderr.
   */
  onError?: (err: Error) => void;
}

/** `onError`, or its default: one line on stderr naming who failed. */
export function errorReporter(opts: OutsideRedisOptions, caller: string): (err: unknown) => void {
  const onError = opts.onError ?? ((err: Error) => console.error(`${caller}: ${err.message}`));
  return (err) => onError(err instanceof Error ? err : new Error(String(err)));
}

/** A client, not yet connected. Commands queue while it connects (unlike the relay's own, which fail fast). */
export function outsideClient(opts: OutsideRedisOptions, caller: string): RedisClient {
  if (opts.redisCluster !== undefined) {
    return createClusterClient(hostPorts.parse(opts.redisCluster), {
      url: opts.redisUrl,
      disableOfflineQueue: false,
    });
  }
  if (!opts.redisUrl) throw new TypeError(`${caller} needs redisUrl or redisCluster`);
  return createClient({ url: opts.redisUrl });
}
