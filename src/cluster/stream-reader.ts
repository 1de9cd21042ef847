import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';
import type { HistoryEntry, StreamHistory } from './stream-history.js';

/** Wait before the XREAD that follows a failed one; doubled at every further failure, up to the max. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** How long one XREAD blocks when the stream is quiet. */
const BLOCK_MS = 5_000;
/** Most entries one XREAD returns: a reader that fell behind catches up in large steps. */
const READ_COUNT = 100;

/** Fan-outs shorter than this never pace the reader: a lightly loaded instance delivers at once. */
const PACE_FROM_MS = 2;
/** While clients arrive, a fan-out of T ms is followed by a pause of PACE_FACTOR × T before the next read. */
const PACE_FACTOR = 6;
/**
 * The longest such pause: it adds to the latency of live messages on this instance, for as long as the
 * storm lasts. At 5,000 ws clients and 50 messages/s, factor 6 and 250 ms against 3 and 100 ms brought a
 * storm from 4.2–4.6 s to 3.7 s after a kill, and from 4.5–4.7 s to 4.1–4.4 s after a drain.
 */
const PACE_MAX_MS = 250;

/**
 * How long the reader waits before its next XREAD, after handing `entries` entries to the sockets in
 * `tookMs`. While a storm of clients reconnects (`storm`), live fan-out and their handshakes and replays
 * share one thread: measured at 5,000 ws clients receiving 50 messages/s, delivering each entry by itself
 * took 70 % of the instance's time (a write per connection per entry) and the storm took 14–19 s. Pausing
 * lets the handshakes run, and the next read carries the entries that arrived meanwhile, so each
 * connection gets them in one write: live fan-out then takes at most a quarter of the time. A full read
 * means the reader is behind: it reads on at once. A draining instance paces too: the clients it still
 * holds are about to leave, and the CPU its fan-out would take is what the instances they move to need.
 */
export function pauseAfterFanOut(tookMs: number, entries: number, storm: boolean): number {
  if (!storm || tookMs < PACE_FROM_MS || entries >= READ_COUNT) return 0;
  return Math.min(PACE_MAX_MS, tookMs * PACE_FACTOR);
}

export interface StreamReaderDeps {
  log: Logger;
  metrics: Metrics;
  together: (deliver: () => void) => void;
  /** True while clients are connecting to this instance, or it is draining (see pauseAfterFanOut). */
  storm: () => boolean;
}

/**
 * Reads one broadcast stream on a connection of its own, from the id that was last when it started, and
 * hands every entry, in stream order, to the history and then to `deliver`. Every broadcast, including
 * this instance's own, is delivered from here: a client's offset then never runs ahead of a message it
 * has not received, which a recovery from that offset would skip.
 *
 * The connection keeps node-redis's offline queue: while Redis is away the XREAD waits for the reconnect
 * instead of failing at once. A failed XREAD (connection lost, Redis still loading, an ACL refusal) is
 * retried after an exponential backoff and logged once per outage; it resumes from the same id.
 */
export class StreamReader {
  readonly #client: RedisClient;
  readonly #stream: string;
  readonly #history: StreamHistory;
  readonly #deliver: (entry: HistoryEntry) => void;
  readonly #deps: StreamReaderDeps;
  #stopped = false;
  #failures = 0;

  constructor(
    client: RedisClient,
    stream: string,
    history: StreamHistory,
    deliver: (entry: HistoryEntry) => void,
    deps: StreamReaderDeps,
  ) {
    this.#client = client;
    this.#stream = stream;
    this.#history = history;
    this.#deliver = deliver;
    this.#deps = deps;
  }

  /** True while reads succeed (or block waiting for entries). */
  get healthy(): boolean {
    return this.#history.started && this.#failures === 0;
  }

  /** Connects the reader's own connection and reads until `stop`. */
  async run(): Promise<void> {
    this.#client.on('error', () => {});
    try {
      await this.#client.connect();
    } catch (err) {
      this.#failed(err as Error);
    }
    let last: string | undefined;
    while (!this.#stopped) {
      await this.#backoff();
      if (this.#stopped) return;
      try {
        if (last === undefined) {
          const [newest] = await this.#client.xRevRange(this.#stream, '+', '-', { COUNT: 1 });
          last = newest?.id ?? '0-0';
          this.#history.start(last);
        }
        const reply = await this.#client.xRead(
          { key: this.#stream, id: last },
          { BLOCK: BLOCK_MS, COUNT: READ_COUNT },
        );
        this.#succeeded();
        const entries = reply?.[0]?.messages ?? [];
        const began = performance.now();
        // One read's entries leave together: a connection gets its share of them in one write.
        this.#deps.together(() => {
          for (const { id, message } of entries) {
            last = id;
            const entry = this.#history.append(id, message);
            if (entry.message) this.#deliver(entry);
            else this.#deps.metrics.redisErrors.inc({ client: 'reader-format' });
          }
        });
        const pause = pauseAfterFanOut(performance.now() - began, entries.length, this.#deps.storm());
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      } catch (err) {
        if (this.#stopped) return;
        this.#failed(err as Error);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    // Fails the pending XREAD at once (close() would wait out its block).
    void Promise.resolve(this.#client.destroy()).catch(() => {});
  }

  async #backoff(): Promise<void> {
    if (this.#failures === 0) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.#failures - 1));
    await new Promise((resolve) => setTimeout(resolve, delay));
  }

  #succeeded(): void {
    if (this.#failures > 0) this.#deps.log.info('stream reader resumed', { failedReads: this.#failures });
    this.#failures = 0;
  }

  #failed(err: Error): void {
    this.#deps.metrics.redisErrors.inc({ client: 'reader' });
    if (this.#failures === 0) {
      this.#deps.log.warn('stream reader failing, retrying with backoff', {
        code: ErrorCodes.CLUSTER,
        error: err.message,
      });
    }
    this.#failures++;
  }
}
