// Benchmark-only preload for server processes (`node --import ./benchmarks/gc-preload.mjs ...`): on SIGUSR2
// it runs a full GC and prints one JSON line with the heap and RSS after it, so memory per connection is
// measured on live objects only; with BENCH_HEAP_SNAPSHOTS=<dir>, it then writes a heap snapshot there and
// names it in the line. The relay itself has no GC route and needs none.
import { join } from 'node:path';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const snapshots = process.env.BENCH_HEAP_SNAPSHOTS;

process.on('SIGUSR2', () => {
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  // After the figures: writing a snapshot allocates.
  const snapshot = snapshots ? writeHeapSnapshot(join(snapshots, `${Date.now()}.heapsnapshot`)) : undefined;
  process.stdout.write(`${JSON.stringify({ msg: 'bench-memory', heapUsed, rss, snapshot })}\n`);
});
