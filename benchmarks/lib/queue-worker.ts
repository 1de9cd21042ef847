// A work-queue backend for benchmarks/upstream.ts: answers `task` at once, or (mode "hold") takes it and
// never answers, so it can be killed while holding it. Prints one JSON line per event on stdout.
import { createBackend } from '../../src/backend/index.js';

const [redisUrl = '', name = 'worker', mode = 'answer', claimIdleMs = '30000'] = process.argv.slice(2);
const backend = createBackend({
  redisUrl,
  namespace: '/jobs',
  group: 'workers',
  consumer: name,
  claimIdleMs: Number(claimIdleMs),
});
backend.handle('task', async (data) => {
  if (mode === 'hold') {
    console.log(JSON.stringify({ held: (data as { n: number }).n }));
    await new Promise(() => {});
  }
  return { n: (data as { n: number }).n, by: name };
});
await backend.start();
console.log(JSON.stringify({ ready: true }));
