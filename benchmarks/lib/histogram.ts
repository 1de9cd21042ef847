// Log-bucketed latency histogram (5% resolution from 10 µs to ~1 h): fixed memory, mergeable across
// worker processes, so every delivery is counted without keeping samples.

const BASE_MS = 0.01;
const GROWTH = 1.05;
const BUCKETS = 480;
const LOG_GROWTH = Math.log(GROWTH);

export class Histogram {
  readonly counts: Uint32Array;
  total = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Uint32Array(BUCKETS);
    if (counts) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i] = counts[i] ?? 0;
      this.total = this.counts.reduce((a, b) => a + b, 0);
    }
  }

  record(ms: number): void {
    const i = ms <= BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH) + 1);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.total++;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.total += other.total;
  }

  /** The upper edge of the bucket holding quantile `q` (0..1), ms; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const target = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return round(upperEdge(i));
    }
    return round(upperEdge(BUCKETS - 1));
  }

  /** [ms, cumulative fraction] points for a CDF plot. */
  cdf(): Array<[number, number]> {
    const points: Array<[number, number]> = [];
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i] ?? 0;
      if (c === 0) continue;
      seen += c;
      points.push([round(upperEdge(i)), seen / this.total]);
    }
    return points;
  }

  toJSON(): number[] {
    return Array.from(this.counts);
  }
}

function upperEdge(i: number): number {
  return BASE_MS * GROWTH ** i;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
