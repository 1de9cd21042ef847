// Socket holdings against a real Redis: each lost socket is ended exactly once, however many instances
// sweep, and a claim that lands while its holding is being swept is not orphaned.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHoldings, type HeldSocket, type Holdings } from '../../src/cluster/holdings.js';
import type { RedisClient } from '../../src/cluster/redis.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { suiteRedis } from '../helpers/redis.js';

const socket = (id: string) => ({ id, namespace: '/app', rooms: ['r'], data: { user: id } });

describe('socket holdings', () => {
  const redis = suiteRedis();
  const deps = {
    metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
    log: createLogger('t', () => {}),
  };
  const holdings = (c: RedisClient, instanceId: string, bootId: string): Holdings =>
    createHoldings(c, { instanceId, bootId }, deps);
  /** Collects the ids of the sockets a sweep ended. */
  const into = (lost: string[]) => (s: HeldSocket) => lost.push(s.id);

  test('two instances sweeping one lost instance end each of its sockets once', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const lost = holdings(redis.client, 'L', 'l1');
    const ids = Array.from({ length: 500 }, (_, i) => `lost-${i}`);
    await Promise.all(ids.map((id) => lost.claim(socket(id))));
    const byA: string[] = [];
    const byB: string[] = [];
    const [endedA, endedB] = await Promise.all([
      holdings(redis.client, 'A', 'a1').sweep(new Set(['B/b1']), into(byA)),
      holdings(redis.client, 'B', 'b1').sweep(new Set(['A/a1']), into(byB)),
    ]);
    assert.equal(endedA + endedB, 500);
    assert.deepEqual([...byA, ...byB].sort(), [...ids].sort());
    assert.equal(await lost.release('lost-0'), undefined, 'an ended holding cannot be released again');
  });

  test('a claim landing while its holding is swept is ended too, not left behind', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    // An instance found lost while still alive (cut off from Redis past the timeout) keeps claiming.
    const late = holdings(redis.client, 'X', 'x1');
    await late.claim(socket('early'));
    let claimed = false;
    // The sweeper's Redis client: the first time the holding looks empty, the late claim lands.
    const racing = new Proxy(redis.client, {
      get(target, prop) {
        if (prop === 'sRandMemberCount') {
          return async (...args: Parameters<RedisClient['sRandMemberCount']>) => {
            const ids = await target.sRandMemberCount(...args);
            if (ids.length === 0 && !claimed) {
              claimed = true;
              await late.claim(socket('late'));
            }
            return ids;
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const ended: string[] = [];
    await holdings(racing, 'S', 's1').sweep(new Set(), into(ended));
    await holdings(redis.client, 'S', 's1').sweep(new Set(), into(ended));
    assert.ok(claimed, 'the late claim was made during the sweep');
    assert.deepEqual(ended, ['early', 'late']);
  });
});
