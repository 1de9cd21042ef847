// The classic adapters (`--adapter pubsub`, `--adapter sharded-pubsub`) on two instances over a real
// Redis: cross-instance delivery works, and the relay says that recovery is not available with them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

for (const adapter of ['pubsub', 'sharded-pubsub'] as const) {
  describe(`--adapter ${adapter}`, () => {
    let redis: RedisServer | undefined;
    let a: RelayProcess;
    let b: RelayProcess;
    before(async () => {
      if (!toolAvailable('redis-server')) return;
      redis = await startRedis();
      const common = ['--redis-url', redis.url, '--adapter', adapter];
      [a, b] = await Promise.all([
        startRelay([...common, '--instance-id', 'A']),
        startRelay([...common, '--instance-id', 'B', '--transport', 'ws']),
      ]);
    });
    after(async () => {
      closeClients();
      await a?.stop('SIGKILL');
      await b?.stop('SIGKILL');
      await redis?.stop();
    });

    test('room broadcasts and direct messages cross instances, exactly once and in order', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const alice = await client(a.url);
      const bob = await client(b.url, { transports: ['websocket'] });
      const outsider = await client(b.url);
      const atAlice = collect<number>(alice, 'n');
      const atBob = collect<number>(bob, 'n');
      const atOutsider = collect<number>(outsider, 'n');
      assert.deepEqual(await ask(alice, 'join', 'room'), { ok: true });
      assert.deepEqual(await ask(bob, 'join', 'room'), { ok: true });
      for (let n = 1; n <= 20; n++) {
        assert.deepEqual(await ask(alice, 'publish', { room: 'room', event: 'n', data: n }), { ok: true });
      }
      assert.deepEqual(await ask(bob, 'publish', { room: alice.id, event: 'n', data: 99 }), { ok: true });
      await received('messages at bob', atBob, 20);
      await received('messages at alice', atAlice, 21);
      // A short sleep, not a fence: Pub/Sub has no single order across the two instances' publishing
      // connections, so a later marker would not prove that a copy of an earlier message is not on its way.
      await new Promise((r) => setTimeout(r, 300));
      const oneToTwenty = Array.from({ length: 20 }, (_, i) => i + 1);
      assert.deepEqual(atBob, oneToTwenty);
      assert.deepEqual(atAlice, [...oneToTwenty, 99]);
      assert.deepEqual(atOutsider, [], 'a socket outside the room gets nothing');
    });

    test('the relay says at start, in /v1/stats and in whoami that recovery is not available', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const warning = a.logs.find((l) =>
        String(l.msg).startsWith('connection state recovery is not available'),
      );
      assert.equal(warning?.adapter, adapter);
      const stats = (await (await fetch(`${a.adminUrl}/v1/stats`)).json()) as Record<string, unknown>;
      assert.equal(stats.adapter, adapter);
      assert.equal(stats.connectionStateRecovery, false);
      const carol = await client(b.url, { transports: ['websocket'] });
      assert.equal((await ask(carol, 'whoami')).recovered, false);
      const before = carol.id;
      carol.io.engine.close();
      await new Promise<void>((resolve) => carol.once('connect', () => resolve()));
      const again = await ask(carol, 'whoami');
      assert.equal(again.recovered, false, 'a reconnect is a new session');
      assert.notEqual(again.socketId, before);
    });
  });
}
