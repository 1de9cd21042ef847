// The instance registry against a real Redis: liveness follows Redis's clock, not the clocks of the hosts
// that write it, and a crashed instance disappears by itself, its holdings then swept as lost.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient } from 'redis';
import { createHoldings, type HeldSocket, holdingIdOf } from '../../src/cluster/holdings.js';
import type { RedisClient } from '../../src/cluster/redis.js';
import { createRedisRegistry, type InstanceInfo } from '../../src/cluster/registry.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { waitFor } from '../helpers/processes.js';
import { suiteRedis } from '../helpers/redis.js';

const TIMEOUT_MS = 1_000;
const HOUR_MS = 3_600_000;

describe('instance registry', () => {
  const redis = suiteRedis();
  const deps = {
    metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
    log: createLogger('t', () => {}),
  };
  /** An instance whose host clock is off by `skewMs`, as it reports itself. */
  const instance = (instanceId: string, skewMs: number) => {
    const startedAt = new Date(Date.now() + skewMs).toISOString();
    return async (): Promise<InstanceInfo> => ({
      instanceId,
      bootId: `${instanceId}-boot`,
      transport: 'uws',
      adapter: 'streams',
      connections: 0,
      draining: false,
      startedAt,
      lastSeen: new Date(Date.now() + skewMs).toISOString(),
      rooms: 0,
      publishesTotal: 0,
      recoveriesTotal: 0,
      recoveryFailuresTotal: 0,
      topRooms: [],
    });
  };
  const ids = async (registry: { list(): Promise<InstanceInfo[]> }) =>
    (await registry.list()).map((i) => i.instanceId);

  test('skewed clocks do not decide: a live instance stays live, a crashed one is lost after the timeout and leaves nothing behind', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const observer = createRedisRegistry(redis.client, instance('observer', 0), deps, TIMEOUT_MS);
    // Its clock an hour behind: by wall-clock comparison it would look lost since it started.
    const behind = createRedisRegistry(redis.client, instance('behind', -HOUR_MS), deps, TIMEOUT_MS);
    // Its clock an hour ahead: by wall-clock comparison it would look live for an hour after a crash.
    const aheadClient: RedisClient = createClient({ url: redis.server.url });
    await aheadClient.connect();
    const ahead = createRedisRegistry(aheadClient, instance('ahead', HOUR_MS), deps, TIMEOUT_MS);
    t.after(async () => {
      await behind.stop();
      await ahead.stop().catch(() => {}); // its connection is gone: this only stops its timer
      if (aheadClient.isOpen) await aheadClient.disconnect();
    });
    await Promise.all([behind.start(), ahead.start()]);
    assert.deepEqual(await ids(observer), ['ahead', 'behind']);

    const holdings = (info: () => Promise<InstanceInfo>) =>
      info().then((self) => createHoldings(redis.client, self, deps));
    const socket = (id: string) => ({ id, namespace: '/app', rooms: [], data: null });
    await (await holdings(instance('behind', -HOUR_MS))).claim(socket('on-behind'));
    await (await holdings(instance('ahead', HOUR_MS))).claim(socket('on-ahead'));

    // A crash: its beats stop reaching Redis, and nobody deletes its entry.
    await aheadClient.disconnect();
    await waitFor('the crashed instance to be lost', async () => !(await ids(observer)).includes('ahead'));
    assert.deepEqual(await ids(observer), ['behind'], 'the live instance outlived the crashed one');

    const live = new Set((await observer.list()).map(holdingIdOf));
    const swept: string[] = [];
    const sweeper = await holdings(instance('observer', 0));
    await sweeper.sweep(live, (s: HeldSocket) => swept.push(s.id));
    assert.deepEqual(swept, ['on-ahead'], 'only the crashed instance is swept');

    const left: string[] = [];
    for (const key of await redis.client.keys('*')) {
      const type = await redis.client.type(key);
      const names =
        type === 'set'
          ? await redis.client.sMembers(key)
          : type === 'hash'
            ? await redis.client.hKeys(key)
            : [];
      for (const name of [key, ...names]) if (name.includes('ahead')) left.push(`${key}: ${name}`);
    }
    assert.deepEqual(left, [], 'nothing of the crashed instance is left in Redis');
  });
});
