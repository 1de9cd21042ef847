/** How long a finished read stays shareable. */
const KEEP_MS = 1_000;
/** Most reads kept at once (oldest dropped first): bounds the memory of a storm with scattered offsets. */
const MAX_KEPT = 256;

type Read = { issuedAt: number; bornAt: number; result: Promise<unknown> };

/**
 * Redis reads shared by concurrent restores. After a crash, thousands of clients that were in the same
 * rooms reconnect at once with nearly the same offset; if each restore reads the stream itself, the same
 * entries cross from Redis and are decoded thousands of times over (a 5,000-client storm timed out so).
 *
 * A read is shared only with restores that started before it was issued: such a restore's live log
 * (RestoredSockets) already holds every entry written after the read ran, so nothing falls between.
 * `start()` and the issuing of a read tick one clock, which orders them exactly.
 */
export class SharedReads {
  #clock = 0;
  readonly #reads = new Map<string, Read>();

  /** Marks a restore's start, in the same synchronous step as RestoredSockets.startReading. */
  start(): number {
    return ++this.#clock;
  }

  /** `read()`'s result, or that of the same read (`key`) issued by another restore after `since`. */
  get<T>(key: string, since: number, read: () => Promise<T>): Promise<T> {
    const found = this.#reads.get(key);
    if (found && found.issuedAt > since && Date.now() - found.bornAt < KEEP_MS) {
      return found.result as Promise<T>;
    }
    this.#prune();
    const result = read();
    // Re-inserted at the end, so the map stays in issue order for pruning.
    this.#reads.delete(key);
    this.#reads.set(key, { issuedAt: ++this.#clock, bornAt: Date.now(), result });
    result.catch(() => {
      if (this.#reads.get(key)?.result === result) this.#reads.delete(key);
    });
    return result;
  }

  #prune(): void {
    const old = Date.now() - KEEP_MS;
    for (const [key, read] of this.#reads) {
      if (read.bornAt >= old && this.#reads.size < MAX_KEPT) break;
      this.#reads.delete(key);
    }
  }
}
