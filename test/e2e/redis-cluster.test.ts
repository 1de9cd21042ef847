// The relay on a real Redis Cluster (3 masters, 3 replicas): broadcasts over several streams spread by
// namespace, graceful-restart recovery, a queue backend and an emitter, and a master killed during traffic.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createBackend } from '../../src/backend/index.js';
import { streamOf } from '../../src/cluster/wire.js';
import { createEmitter } from '../../src/emitter/index.js';
import { metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, fence, received } from '../helpers/clients.js';
import { publishThroughFailover } from '../helpers/failover.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisClusterNodes, startRedisCluster } from '../helpers/redis-cluster.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const NAMESPACES = ['/', '/a', '/b', '/c'];

describe('Redis Cluster', () => {
  let cluster: RedisClusterNodes | undefined;
  let common: string[];
  let a: RelayProcess;
  let b: RelayProcess;
  let bPort: string;

  before(async () => {
    if (!toolAvailable('redis-server') || !toolAvailable('redis-cli')) return;
    cluster = await startRedisCluster();
    const config = writeConfig({
      namespaces: {
        ...Object.fromEntries(NAMESPACES.map((n) => [n, { join: ['*'], publish: ['*'] }])),
        '/jobs': { upstream: { queue: {} } },
      },
    });
    common = [
      '--redis-cluster',
      cluster.addresses.slice(0, 2).join(','),
      '--stream-count',
      '3',
      '--config',
      config,
    ];
    bPort = String(await freePort());
    [a, b] = await Promise.all([
      startRelay([...common, '--instance-id', 'A']),
      startRelay([...common, '--instance-id', 'B', '--transport', 'ws', '--port', bPort]),
    ]);
  });
  after(async () => {
    closeClients();
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await cluster?.stop();
  });

  test('broadcasts cross instances on every namespace, spread over several streams and masters', async (t) => {
    if (!cluster) return t.skip('redis-server or redis-cli is not installed');
    for (const nsp of NAMESPACES) {
      const alice = await client(a.url, {}, nsp);
      const bob = await client(b.url, { transports: ['websocket'] }, nsp);
      const atBob = collect<number>(bob, 'n');
      await ask(bob, 'join', 'room');
      for (let n = 1; n <= 10; n++)
        assert.deepEqual(await ask(alice, 'publish', { room: 'room', event: 'n', data: n }), { ok: true });
      await received(`messages on ${nsp}`, atBob, 10);
      await fence([atBob], 11, (data) => ask(alice, 'publish', { room: 'room', event: 'n', data }));
      assert.deepEqual(atBob, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], `exactly once, in order, on ${nsp}`);
    }
    const streams = ['socket.io-0', 'socket.io-1', 'socket.io-2', 'socket.io--1', 'socket.io--2'];
    const masters = new Set<number>();
    for (const s of streams) masters.add(await cluster.masterOf(s));
    assert.ok(masters.size >= 2, 'the streams live on more than one master');
  });

  test('the instance registry (one MULTI and one script per hash tag) lists both instances', async (t) => {
    if (!cluster) return t.skip('redis-server or redis-cli is not installed');
    const res = await fetch(`${b.adminUrl}/v1/instances`);
    assert.equal(res.status, 200);
    const { instances } = (await res.json()) as { instances: Array<{ instanceId: string }> };
    assert.deepEqual(
      instances.map((i) => i.instanceId),
      ['A', 'B'],
    );
    assert.equal(await metric(a, 'relay_redis_errors_total', { client: 'registry' }), 0, 'every beat landed');
  });

  test('a client of a restarted instance recovers what was published meanwhile', async (t) => {
    if (!cluster) return t.skip('redis-server or redis-cli is not installed');
    const alice = await client(a.url, {}, '/a');
    const carol = await client(b.url, { transports: ['websocket'] }, '/a');
    const atCarol = collect<number>(carol, 'r');
    await ask(carol, 'join', 'recover');
    await ask(alice, 'publish', { room: 'recover', event: 'r', data: 0 });
    await received('first message', atCarol, 1);
    const id = carol.id;
    assert.equal(await b.stop('SIGTERM'), 0);
    for (let n = 1; n <= 20; n++) await ask(alice, 'publish', { room: 'recover', event: 'r', data: n });
    b = await startRelay([...common, '--instance-id', 'B', '--transport', 'ws', '--port', bPort]);
    await waitFor('carol recovered', () => carol.connected && carol.recovered, 15_000);
    assert.equal(carol.id, id);
    await received('missed messages', atCarol, 21);
    // After the replay, live: a copy of a replayed message would arrive before this one.
    await fence([atCarol], 21, (data) => ask(alice, 'publish', { room: 'recover', event: 'r', data }));
    assert.deepEqual(
      atCarol,
      Array.from({ length: 22 }, (_, i) => i),
    );
  });

  test('a queue backend and an emitter on the cluster: events acked, their emits reach both instances', async (t) => {
    if (!cluster) return t.skip('redis-server or redis-cli is not installed');
    // Other nodes than the relays were given: any node leads to the whole cluster.
    const redisCluster = cluster.addresses.slice(3).join(',');
    const backend = createBackend({ redisCluster, streamCount: 3, namespace: '/jobs', group: 'workers' });
    backend.handle('task', async (n, ctx) => {
      ctx.to('watchers').emit('progress', n);
      return { done: n };
    });
    backend.onConnect((ctx) => ctx.join('watchers'));
    await backend.start();
    const emitter = createEmitter({ redisCluster, streamCount: 3 });
    t.after(async () => {
      await backend.close();
      await emitter.close();
    });
    const alice = await client(a.url, {}, '/jobs');
    const bob = await client(b.url, { transports: ['websocket'] }, '/jobs');
    const atAlice = collect<number>(alice, 'progress');
    const atBob = collect<number>(bob, 'progress');
    for (let n = 1; n <= 5; n++) assert.deepEqual(await ask(alice, 'task', n), { done: n });
    await emitter.of('/jobs').to('watchers').emit('progress', 6);
    await received('progress at bob', atBob, 6);
    await received('progress at alice', atAlice, 6);
    await fence([atBob, atAlice], 7, (n) => emitter.of('/jobs').to('watchers').emit('progress', n));
    assert.deepEqual(atBob, [1, 2, 3, 4, 5, 6, 7], 'exactly once, in order, on the other instance');
    assert.deepEqual(atAlice, [1, 2, 3, 4, 5, 6, 7]);
  });

  test('the master holding a stream is killed during traffic: delivery resumes on its replica', async (t) => {
    if (!cluster) return t.skip('redis-server or redis-cli is not installed');
    const alice = await client(a.url, {}, '/b');
    const dave = await client(b.url, { transports: ['websocket'] }, '/b');
    await ask(dave, 'join', 'room');
    const atDave = collect<number>(dave, 'n');
    const streamOfB = streamOf('/b', 3);
    const victim = await cluster.masterOf(streamOfB);
    const traffic = await publishThroughFailover(
      alice,
      atDave,
      () => (cluster as RedisClusterNodes).kill(victim),
      40_000,
    );
    console.log(
      `# redis cluster: master of ${streamOfB} killed; delivery resumed after ${traffic.resumedMs} ms; ${traffic.refused} publishes refused meanwhile; ${traffic.lost.length} acked publishes lost`,
    );
  });
});
