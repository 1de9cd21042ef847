// Benchmark-only preload for server processes (`node --import ./benchmarks/gc-preload.mjs ...`): on SIGUSR2
// it runs a full GC and prints one JSON line with the heap and RSS after it, so memory per connection is
// measured on live objects only. The relay itself has no GC route and needs none.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

process.on('SIGUSR2', () => {
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ msg: 'bench-memory', heapUsed, rss })}\n`);
});
