// The stream trimmer against a real Redis: age first, the length cap last, evictions recorded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { timeMillis } from '../../src/cluster/redis.js';
import { StreamTrimmer } from '../../src/cluster/stream-trim.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { suiteRedis } from '../helpers/redis.js';

describe('stream trimming', () => {
  const redis = suiteRedis();
  const logs: string[] = [];
  const deps = {
    metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
    log: createLogger('t', (l) => logs.push(l)),
  };

  test('removes entries older than the horizon and keeps every newer one', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const now = timeMillis(await redis.client.time());
    for (let i = 0; i < 500; i++) await redis.client.xAdd('aged', `${now - 120_000 + i}-0`, { n: String(i) });
    for (let i = 0; i < 10; i++) await redis.client.xAdd('aged', `${now - 1_000 + i}-0`, { n: `new${i}` });
    const trimmer = new StreamTrimmer(
      redis.client,
      {
        stream: 'aged',
        evictedKey: 'aged:evicted',
        horizonMs: 60_000,
        maxEntries: 100_000,
        intervalMs: 1000,
      },
      deps,
    );
    await trimmer.trim();
    const left = await redis.client.xRange('aged', '-', '+');
    const newest = left.filter((e) => e.message.n?.startsWith('new'));
    assert.equal(newest.length, 10, 'every entry inside the horizon stays');
    // Approximate trimming removes whole nodes of 100 entries: at most one node of old ones survives.
    assert.ok(left.length - 10 < 100, `${left.length - 10} old entries left`);
    assert.equal(await trimmer.evictedBefore(), '0-0', 'age trimming is not an eviction');
    assert.equal(logs.filter((l) => l.includes('failed')).length, 0);
  });

  test('the length cap evicts the oldest entries and records where the stream now starts', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    for (let i = 0; i < 1000; i++) await redis.client.xAdd('capped', '*', { n: String(i) });
    const trimmer = new StreamTrimmer(
      redis.client,
      {
        stream: 'capped',
        evictedKey: 'capped:evicted',
        horizonMs: 3_600_000,
        maxEntries: 300,
        intervalMs: 1000,
      },
      deps,
    );
    await trimmer.trim();
    const [first] = await redis.client.xRange('capped', '-', '+', { COUNT: 1 });
    const length = await redis.client.xLen('capped');
    assert.ok(length >= 300 && length < 400, `length ${length} after capping at 300`);
    assert.equal(await trimmer.evictedBefore(), first?.id);
    assert.ok(logs.some((l) => l.includes('stream length cap evicted entries')));
    assert.equal(logs.filter((l) => l.includes('failed')).length, 0);
  });
});
