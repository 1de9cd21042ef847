import type { RedisClient } from '../cluster/redis.js';
import { ErrorCodes, RelayError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { parseReply, type UpstreamReply } from './protocol.js';
import type { QueueReply } from './queue-protocol.js';

/** Waits for work-queue replies addressed to this instance (Pub/Sub on its own channel). */
export interface ReplyRouter {
  readonly channel: string;
  /** Resolves with the reply to job `id`, or rejects with RLY_ERR_UPSTREAM_TIMEOUT after `timeoutMs`. */
  expect(id: string, timeoutMs: number): Promise<UpstreamReply>;
  cancel(id: string): void;
  close(): Promise<void>;
}

export function createReplyRouter(
  client: RedisClient,
  channel: string,
  deps: { metrics: Metrics },
): ReplyRouter {
  const pending = new Map<
    string,
    { resolve: (r: UpstreamReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  // Subscribing takes a connection of its own; node-redis re-subscribes it after every reconnect.
  const subscriber = client.duplicate({ disableOfflineQueue: false });
  subscriber.on('error', () => deps.metrics.redisErrors.inc({ client: 'replies' }));
  const ready = subscriber
    .connect()
    .then(() =>
      subscriber.subscribe(channel, (message) => {
        let parsed: QueueReply;
        try {
          parsed = JSON.parse(message) as QueueReply;
        } catch {
          return;
        }
        const waiter = pending.get(parsed.id);
        if (!waiter) return;
        pending.delete(parsed.id);
        clearTimeout(waiter.timer);
        try {
          waiter.resolve(parseReply(parsed.reply));
        } catch (err) {
          waiter.reject(err as Error);
        }
      }),
    )
    .catch(() => deps.metrics.redisErrors.inc({ client: 'replies' }));

  return {
    channel,
    expect(id, timeoutMs) {
      return new Promise<UpstreamReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new RelayError(ErrorCodes.UPSTREAM_TIMEOUT, `no backend answered within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
      });
    },
    cancel(id) {
      const waiter = pending.get(id);
      if (waiter) clearTimeout(waiter.timer);
      pending.delete(id);
    },
    async close() {
      await ready;
      if (subscriber.isOpen) await subscriber.close();
    },
  };
}
