import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

export interface StreamTrimOptions {
  stream: string;
  /** Entries older than this (by Redis clock) are removed; a restorable session is never older. */
  horizonMs: number;
  intervalMs: number;
}

/**
 * Trims the broadcast stream by age instead of length: whatever was published within the recovery horizon
 * stays replayable, however bursty the traffic. (The adapter's `MAXLEN` stays on as the memory cap.)
 * Every instance trims; `XTRIM MINID ~` is idempotent and cheap.
 */
export class StreamTrimmer {
  readonly #client: RedisClient;
  readonly #opts: StreamTrimOptions;
  readonly #deps: { metrics: Metrics; log: Logger };
  #timer: NodeJS.Timeout | undefined;
  /** Redis clock minus local clock, measured at each trim (stream ids are Redis timestamps). */
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

  async trim(): Promise<void> {
    try {
      const redisNow = await this.#client.time();
      this.#skewMs = redisNow.getTime() - Date.now();
      const removed = await this.#client.xTrim(this.#opts.stream, 'MINID', this.horizon(), {
        strategyModifier: '~',
      });
      this.#deps.metrics.streamTrims.inc(removed);
      if (this.#failing) this.#deps.log.info('stream trimming resumed', { stream: this.#opts.stream });
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
