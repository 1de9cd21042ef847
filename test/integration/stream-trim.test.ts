// The stream trimmer against a real Redis: age first, the length cap last, evictions recorded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import type { RedisClient } from '../../src/cluster/redis.js';
import { StreamTrimmer } from '../../src/cluster/stream-trim.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { toolAvailable } from '../helpers/tools.js';

describe('stream trimming', () => {
  let redis: RedisServer | undefined;
  let client: RedisClient;
  const logs: string[] = [];
  const deps = {
    metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
    log: createLogger('t', (l) => logs.push(l)),
  };
  before(async () => {
    if (!toolAvailable('redis-server')) return;
    redis = await startRedis();
    client = createClient({ url: redis.url });
    await client.connect();
  });
  after(async () => {
    await client?.quit();
    await redis?.stop();
  });

  test('removes entries older than the horizon and keeps every newer one', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const now = (await client.time()).getTime();
    for (let i = 0; i < 500; i++) await client.xAdd('aged', `${now - 120_000 + i}-0`, { n: String(i) });
    for (let i = 0; i < 10; i++) await client.xAdd('aged', `${now - 1_000 + i}-0`, { n: `new${i}` });
    const trimmer = new StreamTrimmer(
      client,
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
    const left = await client.xRange('aged', '-', '+');
    const newest = left.filter((e) => e.message.n?.startsWith('new'));
    assert.equal(newest.length, 10, 'every entry inside the horizon stays');
    // Approximate trimming removes whole nodes of 100 entries: at most one node of old ones survives.
    assert.ok(left.length - 10 < 100, `${left.length - 10} old entries left`);
    assert.equal(await trimmer.evictedBefore(), '0-0', 'age trimming is not an eviction');
    assert.equal(logs.filter((l) => l.includes('failed')).length, 0);
  });

  test('the length cap evicts the oldest entries and records where the stream now starts', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    for (let i = 0; i < 1000; i++) await client.xAdd('capped', '*', { n: String(i) });
    const trimmer = new StreamTrimmer(
      client,
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
    const [first] = await client.xRange('capped', '-', '+', { COUNT: 1 });
    const length = await client.xLen('capped');
    assert.ok(length >= 300 && length < 400, `length ${length} after capping at 300`);
    assert.equal(await trimmer.evictedBefore(), first?.id);
    assert.ok(logs.some((l) => l.includes('stream length cap evicted entries')));
    assert.equal(logs.filter((l) => l.includes('failed')).length, 0);
  });
});
