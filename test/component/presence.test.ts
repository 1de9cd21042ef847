// Presence against a real Redis: a user joins a room with their first socket and leaves it with their
// last, whatever instance holds each; a recovered socket moves without a leave; a lost instance's members
// are ended once, however many instances sweep. Also measures the cost per member (t.diagnostic).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createMemoryPresence,
  createRedisPresence,
  type PresenceMember,
  type PresenceStore,
} from '../../src/cluster/presence.js';
import type { RedisClient } from '../../src/cluster/redis.js';
import { suiteRedis } from '../helpers/redis.js';

const member = (socketId: string, userId: string, room = 'chat:1'): PresenceMember => ({
  namespace: '/',
  room,
  socketId,
  userId,
});

async function firstAndLast(a: PresenceStore, b: PresenceStore) {
  assert.equal(await a.add(member('s1', 'alice')), true, "alice's first socket joins");
  assert.equal(await b.add(member('s2', 'alice')), false, 'her second, elsewhere, does not');
  assert.equal(await a.add(member('s1', 'alice')), false, 'adding again changes nothing');
  assert.equal(await b.add(member('s3', 'bob')), true);
  assert.deepEqual(await a.list('/', 'chat:1'), [
    { userId: 'alice', sockets: 2 },
    { userId: 'bob', sockets: 1 },
  ]);
  assert.deepEqual(await a.list('/', 'chat:2'), []);
  assert.equal(await a.remove(member('s1', 'alice')), false, 'a socket of hers remains');
  assert.equal(await a.remove(member('s1', 'alice')), false, 'removing again changes nothing');
  assert.equal(await b.remove(member('s2', 'alice')), true, 'her last socket leaves');
  assert.deepEqual(await b.list('/', 'chat:1'), [{ userId: 'bob', sockets: 1 }]);
}

describe('presence store (memory)', () => {
  test("a user's first socket joins and last socket leaves", async () => {
    const store = createMemoryPresence();
    await firstAndLast(store, store);
  });
});

describe('presence store (Redis)', () => {
  const redis = suiteRedis();
  const store = (c: RedisClient, holding: string) => createRedisPresence(c, holding);

  test("a user's first socket joins and last socket leaves, across instances", async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    await firstAndLast(store(redis.client, 'A/1'), store(redis.client, 'B/1'));
    await redis.client.flushAll();
  });

  test('a recovered socket moves to its new instance: no join, and its old instance cannot end it', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const a = store(redis.client, 'A/1');
    const b = store(redis.client, 'B/1');
    assert.equal(await a.add(member('s1', 'alice')), true);
    assert.equal(await b.add(member('s1', 'alice')), false, 'restored on B: no join');
    assert.equal(await a.remove(member('s1', 'alice')), false, "A's deferred leave finds it is B's now");
    assert.deepEqual(await a.list('/', 'chat:1'), [{ userId: 'alice', sockets: 1 }]);
    let left = 0;
    await a.sweep(new Set(['B/1']), () => left++);
    assert.equal(left, 0, "B's member is not swept when B is live");
    assert.equal(await b.remove(member('s1', 'alice')), true);
    await redis.client.flushAll();
  });

  test("two instances sweeping a lost instance end each of its users' presence once", async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const lost = store(redis.client, 'L/1');
    const live = store(redis.client, 'A/1');
    // 100 users × 3 sockets on the lost instance, in 3 rooms; user 0 also has a socket on A.
    const members: PresenceMember[] = [];
    for (let u = 0; u < 100; u++)
      for (let s = 0; s < 3; s++) members.push(member(`u${u}s${s}`, `u${u}`, `chat:${s}`));
    await Promise.all(members.map((m) => lost.add(m)));
    await live.add(member('u0-on-A', 'u0', 'chat:0'));
    const leaves: string[] = [];
    const into = (m: PresenceMember) => leaves.push(`${m.room}|${m.userId}`);
    const [n1, n2] = await Promise.all([
      live.sweep(new Set(['B/1']), into),
      store(redis.client, 'B/1').sweep(new Set(['A/1']), into),
    ]);
    assert.equal(n1 + n2, 299, 'every (room, user) once, but u0 in chat:0, who is still on A');
    assert.equal(new Set(leaves).size, 299);
    assert.deepEqual(await live.list('/', 'chat:0'), [{ userId: 'u0', sockets: 1 }]);
    assert.deepEqual(await live.list('/', 'chat:1'), []);
    assert.deepEqual(await redis.client.sMembers('relay:{presence}:holdings'), ['A/1']);
    await redis.client.flushAll();
  });

  test('cost: Redis bytes per member and commands per join', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const a = store(redis.client, 'relay-a-7d9f/0c1e2f3a');
    const N = 1000;
    // Ids shaped like the real ones: 20-character socket ids, user ids like "user-123456".
    const sid = (i: number) => `${String(i).padStart(8, '0')}AbCdEfGhIjKl`;
    await redis.client.configResetStat();
    for (let i = 0; i < N; i++) await a.add(member(sid(i), `user-${100000 + i}`, 'chat:general'));
    const stats = await redis.client.info('commandstats');
    const calls = [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)]
      .filter(([, name]) => name !== 'info' && name !== 'config')
      .map(([, name, n]) => [name, Number(n)] as const);
    const keys = await redis.client.keys('relay:{presence}:*');
    let bytes = 0;
    for (const key of keys) bytes += (await redis.client.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
    const perJoin = calls.map(([name, n]) => `${name} ${n / N}`).join(', ');
    t.diagnostic(
      `${N} members of ${N} users in one room: ${bytes} bytes, ${Math.round(bytes / N)} bytes per member`,
    );
    t.diagnostic(`per join: ${perJoin} (one round trip: EVAL)`);
    assert.equal(calls.find(([name]) => name === 'eval')?.[1], N, 'one EVAL per join');
    assert.ok(bytes / N < 400, 'a member costs a bounded few hundred bytes');
    await redis.client.flushAll();
  });
});
