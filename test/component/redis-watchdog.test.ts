// The Redis watchdog against a real Redis: a connection kept busy by its own commands is not a frozen
// Redis. In a recovery storm the main connection carries seconds of session reads and writes; a watchdog
// PING queued behind them once made the relay drop the connection and fail the restores waiting on it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectRedis } from '../../src/cluster/redis.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { waitFor } from '../helpers/processes.js';
import { suiteRedis } from '../helpers/redis.js';

describe('redis watchdog', () => {
  const redis = suiteRedis();

  test('a main connection busy for longer than the PING deadline stays up and its commands complete', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const logs: string[] = [];
    const deps = {
      metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
      log: createLogger('t', (line) => logs.push(line)),
    };
    const connection = connectRedis({ url: redis.server.url }, deps);
    t.after(() => connection.close());
    await waitFor('the connection up', () => connection.isReady() || undefined);

    // BLPOP holds the main connection (not Redis) for 3.5 s: a PING sent behind it would wait as long,
    // past the 2 s deadline, while Redis itself answers everyone else at once.
    const readiness: boolean[] = [];
    const sampler = setInterval(() => readiness.push(connection.isReady()), 100);
    const started = Date.now();
    const popped = await connection.client.blPop('nothing-will-come', 3.5);
    clearInterval(sampler);

    assert.equal(popped, null, 'the blocking command ran to its own timeout');
    assert.ok(Date.now() - started >= 3_400, 'it was not cut short');
    assert.ok(readiness.length >= 30 && readiness.every(Boolean), 'readiness stayed up the whole time');
    assert.equal((await connection.client.ping()) as string, 'PONG');
    assert.deepEqual(
      logs.filter((line) => line.includes('redis not answering')),
      [],
      'no frozen-Redis warning',
    );
  });
});
