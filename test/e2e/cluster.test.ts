// The seed scenario on two instances over a real Redis, on both transports: clients on different
// instances exchange messages, room broadcasts cross instances, a direct message reaches only its socket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

type Msg = { from: string; n: number };

/** The benchmark's probe of publish → fan-out, on the relay's bus-delivery diagnostics channel. */
const FANOUT_PROBE = fileURLToPath(new URL('../../benchmarks/fanout-probe.mjs', import.meta.url));

/** How many broadcasts the probe in `relay` has timed since its last report. */
async function probed(relay: RelayProcess): Promise<number> {
  const seen = relay.logs.filter((l) => l.msg === 'bench-fanout').length;
  relay.child.kill('SIGUSR1');
  const line = await waitFor(
    'the fan-out probe report',
    () => relay.logs.filter((l) => l.msg === 'bench-fanout')[seen],
  );
  return (line.counts as number[]).reduce((a, b) => a + b, 0);
}

async function getJson(relay: RelayProcess, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${relay.adminUrl}${path}`);
  assert.equal(res.status, 200, `${path} answers 200`);
  return (await res.json()) as Record<string, unknown>;
}

for (const transport of ['uws', 'ws'] as const) {
  describe(`two instances over Redis (${transport})`, () => {
    let redis: RedisServer | undefined;
    let a: RelayProcess;
    let b: RelayProcess;
    before(async () => {
      if (!toolAvailable('redis-server')) return;
      redis = await startRedis();
      const common = ['--redis-url', redis.url, '--transport', transport];
      const env = { NODE_OPTIONS: `--import ${JSON.stringify(pathToFileURL(FANOUT_PROBE).href)}` };
      [a, b] = await Promise.all([
        startRelay([...common, '--instance-id', 'A'], env),
        startRelay([...common, '--instance-id', 'B'], env),
      ]);
    });
    after(async () => {
      closeClients();
      await a?.stop('SIGKILL');
      await b?.stop('SIGKILL');
      await redis?.stop();
    });

    test('clients on two instances exchange messages in a room, exactly once and in order', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const alice = await client(a.url);
      const bob = await client(b.url, { transports: ['websocket'] });
      const outsider = await client(b.url);
      const atAlice = collect<Msg>(alice, 'chat');
      const atBob = collect<Msg>(bob, 'chat');
      const atOutsider = collect<Msg>(outsider, 'chat');
      assert.equal((await ask(alice, 'whoami')).instanceId, 'A');
      assert.equal((await ask(bob, 'whoami')).instanceId, 'B');
      assert.deepEqual(await ask(alice, 'join', 'room-1'), { ok: true });
      assert.deepEqual(await ask(bob, 'join', 'room-1'), { ok: true });

      for (let n = 1; n <= 5; n++) {
        assert.deepEqual(
          await ask(alice, 'publish', { room: 'room-1', event: 'chat', data: { from: 'alice', n } }),
          {
            ok: true,
          },
        );
      }
      assert.deepEqual(
        await ask(bob, 'publish', { room: 'room-1', event: 'chat', data: { from: 'bob', n: 6 } }),
        {
          ok: true,
        },
      );
      await received('room messages at bob', atBob, 6);
      await received('room messages at alice', atAlice, 6);
      const expected = [1, 2, 3, 4, 5].map((n) => ({ from: 'alice', n })).concat({ from: 'bob', n: 6 });
      assert.deepEqual(atBob, expected);
      assert.deepEqual(atAlice, expected);
      assert.deepEqual(atOutsider, [], 'a socket outside the room receives nothing');
    });

    test('a direct message to a socket id on another instance reaches only that socket', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const sender = await client(a.url);
      const target = await client(b.url);
      const bystanderA = await client(a.url);
      const bystanderB = await client(b.url);
      const sockets = [sender, target, bystanderA, bystanderB];
      const dms = sockets.map((s) => collect<Msg>(s, 'dm'));
      const marks = sockets.map((s) => collect<Msg>(s, 'mark'));
      for (const s of sockets) assert.deepEqual(await ask(s, 'join', 'all'), { ok: true });

      assert.deepEqual(
        await ask(sender, 'publish', { room: target.id, event: 'dm', data: { from: 'sender', n: 1 } }),
        {
          ok: true,
        },
      );
      // A later broadcast to everyone: once it has arrived, any misrouted direct message would have too.
      assert.deepEqual(
        await ask(sender, 'publish', { room: 'all', event: 'mark', data: { from: 'sender', n: 2 } }),
        {
          ok: true,
        },
      );
      for (const [i, list] of marks.entries()) await received(`mark at socket ${i}`, list, 1);
      assert.deepEqual(dms[1], [{ from: 'sender', n: 1 }]);
      assert.deepEqual(dms[0], []);
      assert.deepEqual(dms[2], []);
      assert.deepEqual(dms[3], []);
    });

    test('every instance reports each broadcast it fans out from the stream on its diagnostics channel', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const onA = await client(a.url);
      const onB = await client(b.url);
      const atA = collect(onA, 'timed');
      const atB = collect(onB, 'timed');
      await ask(onA, 'join', 'timed');
      await ask(onB, 'join', 'timed');
      await Promise.all([probed(a), probed(b)]);
      for (let n = 1; n <= 3; n++) {
        const sent = { t: Date.now(), n };
        assert.deepEqual(await ask(onA, 'publish', { room: 'timed', event: 'timed', data: sent }), {
          ok: true,
        });
      }
      // Each instance's clients get them from its own stream delivery, after it published them.
      await received('the timed messages at A', atA, 3);
      await received('the timed messages at B', atB, 3);
      // The publishing instance delivers its own broadcasts from the stream too.
      assert.deepEqual(await Promise.all([probed(a), probed(b)]), [3, 3]);
    });

    test('admin routes answer cluster-wide', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const onA = await client(a.url);
      const onB = await client(b.url);
      await ask(onA, 'join', 'ops');
      await ask(onB, 'join', 'ops');

      const members = await getJson(a, '/v1/rooms/ops/sockets');
      assert.deepEqual(members.sockets, [onA.id, onB.id].sort());

      const instances = await waitFor('both instances registered', async () => {
        const body = await getJson(b, '/v1/instances');
        const list = body.instances as Array<{ instanceId: string }>;
        return list.length === 2 ? list : undefined;
      });
      assert.deepEqual(
        instances.map((i) => i.instanceId),
        ['A', 'B'],
      );

      const stats = await getJson(a, '/v1/stats');
      assert.equal(stats.adapter, 'streams');
      assert.equal(stats.transport, transport);

      const fromAdmin = collect<Msg>(onB, 'notice');
      const res = await fetch(`${a.adminUrl}/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'ops', event: 'notice', data: { from: 'admin', n: 1 } }),
      });
      assert.equal(res.status, 202);
      await received('admin publish on the other instance', fromAdmin, 1);
      assert.deepEqual(fromAdmin, [{ from: 'admin', n: 1 }]);

      // A room name is not a socket id: refused, and nobody in the room is disconnected.
      const room = await fetch(`${a.adminUrl}/v1/sockets/ops`, { method: 'DELETE' });
      assert.equal(room.status, 400);
      assert.equal(((await room.json()) as { error: { code: string } }).error.code, 'RLY_ERR_BAD_REQUEST');
      assert.deepEqual((await getJson(a, '/v1/rooms/ops/sockets')).sockets, [onA.id, onB.id].sort());

      const gone = new Promise<string>((resolve) => onB.once('disconnect', (reason) => resolve(reason)));
      const del = await fetch(`${a.adminUrl}/v1/sockets/${onB.id}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      assert.equal(await gone, 'io server disconnect', 'the socket on B is disconnected from A');
      // Once DELETE has answered, no listing shows the socket any more (local or remote).
      const local = await fetch(`${a.adminUrl}/v1/sockets/${onA.id}`, { method: 'DELETE' });
      assert.equal(local.status, 204);
      assert.deepEqual((await getJson(a, '/v1/rooms/ops/sockets')).sockets, []);

      const missing = await fetch(`${a.adminUrl}/v1/sockets/AAAAAAAAAAAAAAAAAAAA`, { method: 'DELETE' });
      assert.equal(missing.status, 404);
      assert.equal(
        ((await missing.json()) as { error: { code: string } }).error.code,
        'RLY_ERR_SOCKET_NOT_FOUND',
      );
    });
  });
}
