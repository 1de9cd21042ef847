import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

/** Wait before the XREAD that follows a failed one; doubled at every further failure, up to the max. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/**
 * Replaces the client's `duplicate`, then runs `create`, which builds the stock streams adapter, so the
 * connections the adapter duplicates for itself (its blocking stream readers and its Pub/Sub subscriber)
 * are guarded. The replacement stays: with several streams the adapter duplicates its readers across
 * awaits. Other modules' duplicates (replies, Pub/Sub adapters) want the offline queue too.
 * - They keep node-redis's offline queue, which the main connection turns off: while Redis is away the
 *   reader's XREAD waits for the reconnect instead of failing at once.
 * - The stock reading loop retries at once after any error. An XREAD that fails (connection lost, Redis
 *   still loading, an ACL refusal) is retried after an exponential backoff, and logged once per outage.
 */
export function withGuardedReader<T>(
  client: RedisClient,
  deps: { log: Logger; metrics: Metrics },
  create: () => T,
): T {
  const duplicate = client.duplicate;
  client.duplicate = ((overrides?: object) =>
    backOff(duplicate.call(client, { ...overrides, disableOfflineQueue: false }), deps)) as typeof duplicate;
  return create();
}

function backOff(reader: RedisClient, deps: { log: Logger; metrics: Metrics }): RedisClient {
  const xRead = reader.xRead.bind(reader);
  let failures = 0;
  reader.xRead = (async (...args: Parameters<typeof xRead>) => {
    if (failures > 0) {
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (failures - 1));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    try {
      const result = await xRead(...args);
      if (failures > 0) deps.log.info('stream reader resumed', { failedReads: failures });
      failures = 0;
      return result;
    } catch (err) {
      deps.metrics.redisErrors.inc({ client: 'reader' });
      if (failures === 0) {
        deps.log.warn('stream reader failing, retrying with backoff', {
          code: 'RLY_ERR_CLUSTER',
          error: (err as Error).message,
        });
      }
      failures++;
      throw err;
    }
  }) as typeof reader.xRead;
  return reader;
}
