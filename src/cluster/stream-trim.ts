import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { type RedisClient, timeMillis } from './redis.js';

export interface StreamTrimOptions {
  stream: string;
  /** Key holding the first id kept after the last length-cap eviction (see `evictedBefore`). */
  evictedKey: string;
  /** Entries older than this (by Redis clock) are removed; a restorable session is never older. */
  horizonMs: number;
  /** Memory cap, in entries, enforced at every run. */
  maxEntries: number;
  intervalMs: number;
}

// Raises the watermark only: several instances trim concurrently.
const RAISE_WATERMARK = `
local current = redis.call('GET', KEYS[1])
if not current then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
local cm, cs = string.match(current, '(%d+)-(%d+)')
local nm, ns = string.match(ARGV[1], '(%d+)-(%d+)')
if tonumber(nm) > tonumber(cm) or (tonumber(nm) == tonumber(cm) and tonumber(ns) > tonumber(cs)) then
  redis.call('SET', KEYS[1], ARGV[1]) return 1
end
return 0`;

/**
 * Keeps the broadcast stream bounded by age first: whatever was published within the recovery horizon
 * stays replayable, however bursty the traffic (every XADD also trims by age). The length cap is the
 * memory bound of last resort; what it evicts is recorded, so a restore that needs it says "offset-gone"
 * instead of replaying with a hole. Every instance runs this; the commands are idempotent.
 */
export class StreamTrimmer {
  readonly #client: RedisClient;
  readonly #opts: StreamTrimOptions;
  readonly #deps: { metrics: Metrics; log: Logger };
  #timer: NodeJS.Timeout | undefined;
  /** Redis clock minus local clock, measured at each run (stream ids are Redis timestamps). */
  #skewMs = 0;
  #failing = false;

  constructor(client: RedisClient, opts: StreamTrimOptions, deps: { metrics: Metrics; log: Logger }) {
    this.#client = client;
    this.#opts = opts;
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => void this.trim(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The oldest stream time a restorable session can need, in Redis milliseconds. */
  horizon(): number {
    return Date.now() + this.#skewMs - this.#opts.horizonMs;
  }

  /** Entries before this id may have been evicted by the length cap ('0-0': none ever was). */
  async evictedBefore(): Promise<string> {
    return (await this.#client.get(this.#opts.evictedKey)) ?? '0-0';
  }

  async trim(): Promise<void> {
    // While Redis is away there is nothing to trim; the connection reports the outage.
    if (!this.#client.isReady) return;
    const { stream, maxEntries, evictedKey } = this.#opts;
    try {
      const redisNow = timeMillis(await this.#client.time());
      this.#skewMs = redisNow - Date.now();
      const aged = await this.#client.xTrim(stream, 'MINID', this.horizon(), { strategyModifier: '~' });
      this.#deps.metrics.streamTrims.inc({ cause: 'age' }, aged);
      const capped = await this.#client.xTrim(stream, 'MAXLEN', maxEntries, { strategyModifier: '~' });
      if (capped > 0) {
        this.#deps.metrics.streamTrims.inc({ cause: 'cap' }, capped);
        const [first] = await this.#client.xRange(stream, '-', '+', { COUNT: 1 });
        if (first) await this.#client.eval(RAISE_WATERMARK, { keys: [evictedKey], arguments: [first.id] });
        this.#deps.log.warn('stream length cap evicted entries still inside the recovery horizon', {
          evicted: capped,
          maxEntries,
        });
      }
      if (this.#failing) this.#deps.log.info('stream trimming resumed', { stream });
      this.#failing = false;
    } catch (err) {
      this.#deps.metrics.redisErrors.inc({ client: 'trim' });
      if (!this.#failing) {
        this.#deps.log.warn('stream trimming failed', {
          code: 'RLY_ERR_CLUSTER',
          error: (err as Error).message,
        });
      }
      this.#failing = true;
    }
  }
}
