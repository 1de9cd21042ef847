import type { ClusterMessage } from 'socket.io-adapter';
import { compareStreamIds, decodeEntry, type StreamFields } from './wire.js';

/** A stream entry this instance has read, decoded once for live delivery and for every replay. */
export interface HistoryEntry {
  id: string;
  /** Undefined for an entry that is not in the cluster's format (counted, skipped). */
  message: ClusterMessage | undefined;
  /** Local time it was read (or fetched for a restore). */
  readAt: number;
  /** What a replay writes for it, encoded on first use and shared by every restored socket. */
  replay?: unknown;
}

export interface StreamHistoryOptions {
  /** Entries read longer ago than this may be forgotten (restores older than that read from Redis). */
  keepMs: number;
  /** Most entries held, whatever their age. */
  maxEntries: number;
}

/** Reads entries `(after, upTo]` of the stream from Redis, oldest first, at most `count`. */
export type RangeReader = (
  after: string,
  upTo: string,
  count: number,
) => Promise<Array<{ id: string; message: StreamFields }>>;

/** Entries per XRANGE while fetching older history: bounded memory and Redis time per call. */
const FETCH_CHUNK = 1000;

/**
 * The recent part of one broadcast stream, in stream order, as this instance's reader saw it: every entry
 * with an id in `(coveredFrom, last]`. A restore replays from here, so a reconnect storm reads Redis once
 * (the reader already did) instead of once per client. Entries older than the history are fetched from
 * Redis on demand, once for all the restores that need them, and prepended.
 *
 * `last` is the reader's position: every entry up to it has been delivered live on this instance, and
 * every entry after it will be. That one boundary is what makes a replay exact: a restored socket gets
 * `(offset, last]` from here, in the same synchronous step in which it starts receiving live broadcasts.
 */
export class StreamHistory {
  readonly #opts: StreamHistoryOptions;
  readonly #readRange: RangeReader;
  #entries: HistoryEntry[] = [];
  /** Index of the first entry still held (the ones before it are forgotten). */
  #head = 0;
  #coveredFrom: string | undefined;
  #last = '0-0';
  #waiters: Array<{ id: string; resolve: () => void }> = [];
  #started: Array<() => void> = [];
  /** Offsets that restores in progress still replay from: entries after them are kept. */
  readonly #pins = new Map<symbol, string>();
  #fetching: Promise<void> | undefined;

  constructor(opts: StreamHistoryOptions, readRange: RangeReader) {
    this.#opts = opts;
    this.#readRange = readRange;
  }

  /** Called once by the reader with the stream's last id when it started reading after it. */
  start(lastId: string): void {
    this.#coveredFrom = lastId;
    this.#last = lastId;
    for (const resolve of this.#started.splice(0)) resolve();
  }

  get started(): boolean {
    return this.#coveredFrom !== undefined;
  }

  /** Resolves true once the reader has started, false after `timeoutMs`. */
  whenStarted(timeoutMs: number): Promise<boolean> {
    if (this.started) return Promise.resolve(true);
    return withTimeout((resolve) => this.#started.push(resolve), timeoutMs);
  }

  /** The id of the last entry the reader has read. */
  get last(): string {
    return this.#last;
  }

  /** Entries read, in stream order (called by the reader before it delivers the entry live). */
  append(id: string, fields: StreamFields): HistoryEntry {
    const entry: HistoryEntry = { id, message: decodeOrUndefined(fields), readAt: Date.now() };
    this.#entries.push(entry);
    this.#last = id;
    if (this.#waiters.length > 0) {
      this.#waiters = this.#waiters.filter((w) => {
        if (compareStreamIds(w.id, id) > 0) return true;
        w.resolve();
        return false;
      });
    }
    this.#trim();
    return entry;
  }

  /** Resolves true once the reader has read `id`, false after `timeoutMs`. */
  reached(id: string, timeoutMs: number): Promise<boolean> {
    if (compareStreamIds(id, this.#last) <= 0) return Promise.resolve(true);
    return withTimeout((resolve) => this.#waiters.push({ id, resolve }), timeoutMs);
  }

  /** Whether every entry after `offset` is held here. */
  covers(offset: string): boolean {
    return this.#coveredFrom !== undefined && compareStreamIds(offset, this.#coveredFrom) >= 0;
  }

  /**
   * Fetches from Redis what lies between `offset` and the history, unless it is more than `limit` entries
   * (then false, and nothing is kept). Concurrent calls share the fetches.
   */
  async fetchFrom(offset: string, limit: number): Promise<boolean> {
    while (!this.covers(offset)) {
      if (this.#fetching) {
        await this.#fetching;
        continue;
      }
      let ok = true;
      this.#fetching = this.#fetch(offset, limit).then((fits) => {
        ok = fits;
      });
      try {
        await this.#fetching;
      } finally {
        this.#fetching = undefined;
      }
      if (!ok) return false;
    }
    return true;
  }

  async #fetch(offset: string, limit: number): Promise<boolean> {
    const upTo = this.#coveredFrom as string;
    const fetched: HistoryEntry[] = [];
    let after = offset;
    for (;;) {
      const chunk = await this.#readRange(after, upTo, FETCH_CHUNK);
      const readAt = Date.now();
      for (const { id, message } of chunk) fetched.push({ id, message: decodeOrUndefined(message), readAt });
      if (fetched.length > limit) return false;
      if (chunk.length < FETCH_CHUNK) break;
      after = (chunk[chunk.length - 1] as { id: string }).id;
    }
    // The history may have been trimmed meanwhile (nothing was pinned below upTo): then keep only what
    // joins it without a hole.
    if (this.#coveredFrom !== upTo) return true;
    this.#entries = fetched.concat(this.#entries.slice(this.#head));
    this.#head = 0;
    this.#coveredFrom = offset;
    return true;
  }

  /** Keeps entries after `offset` until `unpin`. */
  pin(offset: string): symbol {
    const token = Symbol('pin');
    this.#pins.set(token, offset);
    return token;
  }

  unpin(token: symbol): void {
    this.#pins.delete(token);
  }

  /** Entries after `offset`, in stream order. The offset must be covered. */
  *after(offset: string): Iterable<HistoryEntry> {
    const entries = this.#entries;
    let lo = this.#head;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareStreamIds((entries[mid] as HistoryEntry).id, offset) <= 0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < entries.length; i++) yield entries[i] as HistoryEntry;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** Runs at every entry read: it returns at once unless the oldest entry is due to go. */
  #trim(): void {
    const entries = this.#entries;
    const old = Date.now() - this.#opts.keepMs;
    const due = (head: number) =>
      head < entries.length &&
      (entries.length - head > this.#opts.maxEntries || (entries[head] as HistoryEntry).readAt < old);
    let head = this.#head;
    if (!due(head)) return;
    // Only now look at the pins: a storm holds thousands of them, and most reads forget nothing.
    let pinned: string | undefined;
    for (const offset of this.#pins.values()) {
      if (pinned === undefined || compareStreamIds(offset, pinned) < 0) pinned = offset;
    }
    while (due(head)) {
      const entry = entries[head] as HistoryEntry;
      if (pinned !== undefined && compareStreamIds(entry.id, pinned) > 0) break;
      this.#coveredFrom = entry.id;
      head++;
    }
    // Forgotten entries are cut off in batches: shifting the array at every entry would be quadratic.
    if (head > 1024 && head * 2 > entries.length) {
      this.#entries = entries.slice(head);
      head = 0;
    }
    this.#head = head;
  }
}

function decodeOrUndefined(fields: StreamFields): ClusterMessage | undefined {
  try {
    return decodeEntry(fields);
  } catch {
    return undefined;
  }
}

/** A promise resolved by `register`'s callback (true) or after `timeoutMs` (false). */
function withTimeout(register: (resolve: () => void) => void, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    register(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
