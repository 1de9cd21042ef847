import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { ServerOptions } from 'socket.io';
import type { Metrics } from '../metrics/registry.js';
import type { RedisConnection } from './redis.js';

/**
 * The classic Redis adapters: Pub/Sub (`PUBLISH`/`PSUBSCRIBE`) or Redis 7 sharded Pub/Sub
 * (`SPUBLISH`/`SSUBSCRIBE`). Fire-and-forget: nothing is stored, so connection state recovery across
 * instances is not possible with them.
 */
export interface PubSubCluster {
  adapter: NonNullable<ServerOptions['adapter']>;
  close(): Promise<void>;
}

export function createPubSubCluster(
  redis: RedisConnection,
  opts: { sharded: boolean },
  deps: { metrics: Metrics },
): PubSubCluster {
  // Subscriptions must queue while the connection comes up, whatever the main connection does.
  const sub = redis.client.duplicate({ disableOfflineQueue: false });
  sub.on('error', () => deps.metrics.redisErrors.inc({ client: 'subscriber' }));
  // Not awaited: subscriptions queue until the connection is up, so the relay starts while Redis is away.
  const connecting = sub.connect().catch(() => deps.metrics.redisErrors.inc({ client: 'subscriber' }));
  const adapter = opts.sharded
    ? // One shard channel per namespace: with per-room channels ('dynamic'), messages published right after
      // a join are lost until the new subscription is active.
      createShardedAdapter(redis.client, sub, { subscriptionMode: 'static' })
    : createAdapter(redis.client, sub);
  return {
    adapter: adapter as NonNullable<ServerOptions['adapter']>,
    async close() {
      await connecting;
      if (sub.isOpen) await sub.close();
    },
  };
}
