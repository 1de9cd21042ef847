// Benchmark-only preload for relay processes: the time from a publish's send (the payload's `t`, stamped by
// the load generator on this machine's clock) to the moment this instance starts fanning out the broadcast
// it read from the cluster bus. It splits cross-instance latency into the server side (publisher → relay →
// Redis → remote relay) and delivery plus the load generator. On SIGUSR1 it prints one JSON line with a
// histogram (the buckets of lib/histogram.ts) of the samples since the last print.
// It hooks socket.io-adapter's ClusterAdapter, which the Streams adapter extends; the seed's classic
// Pub/Sub adapter does not, so the seed reports no samples.
import { createRequire } from 'node:module';

const { ClusterAdapter } = createRequire(import.meta.url)('socket.io-adapter');

// Same buckets as lib/histogram.ts: 5% wide from 10 µs.
const BASE_MS = 0.01;
const LOG_GROWTH = Math.log(1.05);
const BUCKETS = 480;
let counts = new Uint32Array(BUCKETS);

const onMessage = ClusterAdapter.prototype.onMessage;
ClusterAdapter.prototype.onMessage = function probedOnMessage(message, offset) {
  const sentAt = message?.data?.packet?.data?.[1]?.t;
  if (typeof sentAt === 'number') {
    const ms = performance.timeOrigin + performance.now() - sentAt;
    const i = ms <= BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH) + 1);
    counts[i]++;
  }
  return onMessage.call(this, message, offset);
};

process.on('SIGUSR1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'bench-fanout', counts: Array.from(counts) })}\n`);
  counts = new Uint32Array(BUCKETS);
});
