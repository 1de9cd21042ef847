// Benchmark-only preload for relay processes: the time from a publish's send (the payload's `t`, stamped by
// the load generator on this machine's clock) to the moment this instance starts fanning out the broadcast
// it read from the cluster bus. It splits cross-instance latency into the server side (publisher → relay →
// Redis → remote relay) and delivery plus the load generator. On SIGUSR1 it prints one JSON line with a
// histogram (the buckets of lib/histogram.ts) of the samples since the last print.
// It listens on the relay's `edge-relay:bus-delivery` diagnostics channel (every broadcast an instance
// fans out from its Redis stream, its own included); the seed's adapter and the relay's Pub/Sub adapter
// publish nothing there, so they report no samples.
import { subscribe } from 'node:diagnostics_channel';

// Same buckets as lib/histogram.ts: 5% wide from 10 µs.
const BASE_MS = 0.01;
const LOG_GROWTH = Math.log(1.05);
const BUCKETS = 480;
let counts = new Uint32Array(BUCKETS);

subscribe('edge-relay:bus-delivery', (message) => {
  const sentAt = message?.data?.packet?.data?.[1]?.t;
  if (typeof sentAt !== 'number') return;
  const ms = performance.timeOrigin + performance.now() - sentAt;
  const i = ms <= BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH) + 1);
  counts[i]++;
});

process.on('SIGUSR1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'bench-fanout', counts: Array.from(counts) })}\n`);
  counts = new Uint32Array(BUCKETS);
});
