// Presence against real relays and a real Redis: a user's first socket in a presence room sends
// `presence:join` and their last one `presence:leave` to the members on every instance; a killed instance's
// users leave once it is found lost; a socket that recovers after a restart makes no leave and no join.
// The `presence` built-in and `GET /v1/rooms/:room/presence` answer the users; one diagnostic measures the
// join event's latency across instances.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { ask, client, closeClients, received } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const SECRET = 'presence-test-secret-0123456789';
const INSTANCE_TIMEOUT = 6_000;
const HEARTBEAT = 2_000;
const RETIRE = 12_000;

async function as(
  url: string,
  sub: string,
  opts: Record<string, unknown> = {},
  namespace = '/',
): Promise<Socket> {
  const token = await new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
  return client(url, { auth: { token }, transports: ['websocket'], ...opts }, namespace);
}

async function httpPresence(relay: RelayProcess, room: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${relay.adminUrl}/v1/rooms/${encodeURIComponent(room)}/presence`);
  return { status: res.status, body: await res.json() };
}

async function joined(socket: Socket, room: string): Promise<void> {
  assert.deepEqual(await ask(socket, 'join', room), { ok: true });
}

/** Presence events at an observer, as `join:<user>` / `leave:<user>`, in arrival order. */
function watch(socket: Socket): string[] {
  const events: string[] = [];
  socket.on('presence:join', (d: { userId: string }) => events.push(`join:${d.userId}`));
  socket.on('presence:leave', (d: { userId: string }) => events.push(`leave:${d.userId}`));
  return events;
}

const POLICY = {
  '/': { join: ['chat:*', 'plain'], publish: ['chat:*'], presence: ['chat:*'] },
  // Each user may join only their own room: others may not look at its presence.
  '/own': { join: ['desk:{userId}'], presence: ['desk:*'] },
};

describe('presence on a single node (no Redis)', () => {
  test('joins, leaves and the presence answer, in memory', async (t) => {
    const relay = await startRelay([
      ...['--jwt-secret', SECRET, '--config', writeConfig({ namespaces: POLICY })],
    ]);
    t.after(async () => {
      closeClients();
      await relay.stop('SIGKILL');
    });
    const carol = await as(relay.url, 'carol');
    const seen = watch(carol);
    await joined(carol, 'chat:1');
    const alice = await as(relay.url, 'alice');
    await joined(alice, 'chat:1');
    await received('the joins', seen, 2);
    assert.deepEqual((await httpPresence(relay, 'chat:1')).body, {
      room: 'chat:1',
      namespace: '/',
      users: [
        { userId: 'alice', sockets: 1 },
        { userId: 'carol', sockets: 1 },
      ],
    });
    assert.deepEqual(await ask(alice, 'leave', 'chat:1'), { ok: true });
    await received("alice's leave", seen, 3);
    assert.deepEqual(seen, ['join:carol', 'join:alice', 'leave:alice']);

    const own = await as(relay.url, 'alice', { forceNew: true }, '/own');
    const other = await as(relay.url, 'bob', { forceNew: true }, '/own');
    await joined(own, 'desk:alice');
    assert.deepEqual(await ask(own, 'presence', 'desk:alice'), {
      ok: true,
      room: 'desk:alice',
      users: [{ userId: 'alice', sockets: 1 }],
    });
    const refused = (await ask(other, 'presence', 'desk:alice')) as { ok: boolean; error: { code: string } };
    assert.equal(
      refused.error.code,
      'RLY_ERR_FORBIDDEN',
      'not a member, and the policy would not let bob in',
    );
  });

  test('a dropped socket keeps its presence through its recovery window: none sent when it recovers, a leave when it does not come back', async (t) => {
    const relay = await startRelay([
      ...['--jwt-secret', SECRET, '--config', writeConfig({ namespaces: POLICY })],
      ...['--recovery-window', '3000'],
    ]);
    t.after(async () => {
      closeClients();
      await relay.stop('SIGKILL');
    });
    const carol = await as(relay.url, 'carol');
    const seen = watch(carol);
    await joined(carol, 'chat:1');
    const ivan = await as(relay.url, 'ivan');
    const judy = await as(relay.url, 'judy');
    await joined(ivan, 'chat:1');
    await joined(judy, 'chat:1');
    await received('the joins', seen, 3);

    // Ivan's connection drops (transport close) and his client comes back at once: recovered, nothing sent.
    ivan.io.engine.close();
    await waitFor('ivan recovered', () => ivan.connected && ivan.recovered);
    // Judy's drops and she does not come back: she leaves once the window is over.
    judy.io.reconnection(false);
    const droppedAt = Date.now();
    judy.io.engine.close();
    await received("judy's leave", seen, 4, 15_000);
    t.diagnostic(`judy left ${Date.now() - droppedAt} ms after her connection dropped (window 3000 ms)`);
    assert.ok(Date.now() - droppedAt >= 2_900, 'not before the recovery window is over');
    assert.deepEqual(seen, ['join:carol', 'join:ivan', 'join:judy', 'leave:judy']);
    assert.deepEqual((await ask(ivan, 'presence', 'chat:1')).users, [
      { userId: 'carol', sockets: 1 },
      { userId: 'ivan', sockets: 1 },
    ]);
  });
});

for (const transport of ['uws', 'ws'] as const) {
  describe(`presence across instances (${transport})`, () => {
    let redis: RedisServer | undefined;
    let a: RelayProcess;
    let b: RelayProcess;
    const common: string[] = [];
    before(async () => {
      if (!toolAvailable('redis-server')) return;
      redis = await startRedis();
      common.push(
        ...['--redis-url', redis.url, '--transport', transport, '--jwt-secret', SECRET],
        ...['--instance-timeout', String(INSTANCE_TIMEOUT), '--config', writeConfig({ namespaces: POLICY })],
      );
      [a, b] = await Promise.all([
        startRelay([...common, '--instance-id', 'A']),
        startRelay([...common, '--instance-id', 'B']),
      ]);
    });
    after(async () => {
      closeClients();
      await a?.stop('SIGKILL');
      await b?.stop('SIGKILL');
      await redis?.stop();
    });

    test('a user joins with their first socket and leaves with their last, on whatever instance; the built-in and the admin route list them', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const carol = await as(a.url, 'carol');
      const seen = watch(carol);
      await joined(carol, 'chat:1');
      await received('carol sees her own join', seen, 1);

      const alice1 = await as(b.url, 'alice');
      await joined(alice1, 'chat:1');
      await received("alice's join, from B", seen, 2);
      const alice2 = await as(a.url, 'alice');
      await joined(alice2, 'chat:1');
      await joined(alice2, 'plain'); // not a presence room: counts nowhere

      const expected = {
        room: 'chat:1',
        users: [
          { userId: 'alice', sockets: 2 },
          { userId: 'carol', sockets: 1 },
        ],
      };
      assert.deepEqual(await ask(alice1, 'presence', 'chat:1'), { ok: true, ...expected });
      assert.deepEqual(await httpPresence(b, 'chat:1'), {
        status: 200,
        body: { ...expected, namespace: '/' },
      });
      assert.equal((await httpPresence(b, 'plain')).status, 400, 'not a presence room');
      assert.equal(
        ((await ask(carol, 'presence', 'plain')) as { error: { code: string } }).error.code,
        'RLY_ERR_BAD_REQUEST',
      );
      const outsider = await as(b.url, 'dave');
      assert.deepEqual(
        (await ask(outsider, 'presence', 'chat:1')).ok,
        true,
        'a socket the policy lets join may look',
      );

      // Alice's first socket leaves; her second remains: no leave. Bob's join, from the same instance and
      // after it, would come after that leave had there been one.
      assert.deepEqual(await ask(alice1, 'leave', 'chat:1'), { ok: true });
      const bob = await as(b.url, 'bob');
      await joined(bob, 'chat:1');
      await received("bob's join", seen, 3);
      assert.deepEqual(seen, ['join:carol', 'join:alice', 'join:bob']);

      // Her last socket goes (a client disconnect: not recoverable): she leaves at once.
      alice2.disconnect();
      await received("alice's leave", seen, 4);
      assert.deepEqual(seen, ['join:carol', 'join:alice', 'join:bob', 'leave:alice']);
      assert.deepEqual((await ask(carol, 'presence', 'chat:1')).users, [
        { userId: 'bob', sockets: 1 },
        { userId: 'carol', sockets: 1 },
      ]);
    });

    test('the users of a killed instance leave once it is found lost', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const k = await startRelay([...common, '--instance-id', 'K']);
      t.after(() => k.stop('SIGKILL'));
      const carol = await as(a.url, 'carol');
      const seen = watch(carol);
      await joined(carol, 'chat:2');
      const erin = await as(k.url, 'erin', { reconnection: false });
      await joined(erin, 'chat:2');
      // Erin has a second socket, on A: she stays. Frank's only socket is on K.
      const erinOnA = await as(a.url, 'erin');
      await joined(erinOnA, 'chat:2');
      const frank = await as(k.url, 'frank', { reconnection: false });
      await joined(frank, 'chat:2');
      await received('the joins', seen, 3);

      const killedAt = Date.now();
      await k.stop('SIGKILL');
      await received("frank's leave", seen, 4, INSTANCE_TIMEOUT + HEARTBEAT + 5_000);
      t.diagnostic(
        `leave ${Date.now() - killedAt} ms after kill -9 (--instance-timeout ${INSTANCE_TIMEOUT})`,
      );
      // The sweep that sent frank's leave logged once it was done: any leave of erin's would be in by now.
      const bob = await as(a.url, 'bob');
      await joined(bob, 'chat:2');
      await received("bob's join", seen, 5);
      assert.deepEqual(seen, ['join:carol', 'join:erin', 'join:frank', 'leave:frank', 'join:bob']);
      assert.deepEqual((await ask(carol, 'presence', 'chat:2')).users, [
        { userId: 'bob', sockets: 1 },
        { userId: 'carol', sockets: 1 },
        { userId: 'erin', sockets: 1 },
      ]);
    });

    test('a socket of a killed instance that recovers on another one before it is found lost makes no leave and no join', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const port = String(await freePort());
      const k = await startRelay([...common, '--instance-id', 'K1', '--port', port]);
      t.after(() => k.stop('SIGKILL'));
      const carol = await as(a.url, 'carol');
      const seen = watch(carol);
      await joined(carol, 'chat:4');
      const hana = await as(k.url, 'hana');
      await joined(hana, 'chat:4');
      await received("hana's join", seen, 2);

      await k.stop('SIGKILL');
      // Another instance where the killed one listened: hana's client comes back to it and recovers.
      const k2 = await startRelay([...common, '--instance-id', 'K2', '--port', port]);
      t.after(() => k2.stop('SIGKILL'));
      await waitFor('hana recovered', () => hana.connected && hana.recovered);
      const sweptK1 = (l: Record<string, unknown>) =>
        l.msg === 'lost instance presence swept' && String(l.holding).startsWith('K1/');
      const relays = [a, b, k2];
      await waitFor(
        'the sweep of the killed instance',
        () => relays.some((x) => x.logs.some(sweptK1)),
        INSTANCE_TIMEOUT + HEARTBEAT + 5_000,
      );
      const sweeper = relays.find((x) => x.logs.some(sweptK1)) as RelayProcess;
      assert.equal(sweeper.logs.find(sweptK1)?.leaves, 0, "hana's member had moved to K2");
      const bob = await as(sweeper.url, 'bob');
      await joined(bob, 'chat:4');
      await received("bob's join", seen, 3);
      assert.deepEqual(seen, ['join:carol', 'join:hana', 'join:bob']);
      hana.disconnect();
      await received("hana's leave, from K2", seen, 4);
      assert.equal(seen[3], 'leave:hana');
    });

    test('a socket that recovers after its instance restarts makes no leave and no join', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const port = String(await freePort());
      // A drained instance's presence is kept for its recovery window: a short one, to see it end.
      const args = [...common, '--instance-id', 'R', '--port', port, '--recovery-window', String(RETIRE)];
      let r = await startRelay(args);
      t.after(() => r.stop('SIGKILL'));
      const carol = await as(a.url, 'carol');
      const seen = watch(carol);
      await joined(carol, 'chat:3');
      const gina = await as(r.url, 'gina');
      await joined(gina, 'chat:3');
      await received("gina's join", seen, 2);

      assert.equal(await r.stop('SIGTERM'), 0, 'R drains and exits 0');
      r = await startRelay(args);
      await waitFor('gina recovered', () => gina.connected && gina.recovered);
      assert.equal((await ask(gina, 'whoami')).recovered, true);
      // The old R's presence is swept once its recovery window is over (empty: gina moved to the new R); a
      // leave for gina would be sent before that log line.
      const relays = [a, b, r];
      const sweptR = (l: Record<string, unknown>) =>
        l.msg === 'lost instance presence swept' && String(l.holding).startsWith('R/');
      await waitFor(
        'the sweep of the drained instance',
        () => relays.some((x) => x.logs.some(sweptR)),
        RETIRE + HEARTBEAT + 5_000,
      );
      const sweeper = relays.find((x) => x.logs.some(sweptR));
      assert.equal(sweeper?.logs.find(sweptR)?.leaves, 0);
      const bob = await as((sweeper as RelayProcess).url, 'bob');
      await joined(bob, 'chat:3');
      await received("bob's join", seen, 3);
      assert.deepEqual(seen, ['join:carol', 'join:gina', 'join:bob']);
      assert.deepEqual((await ask(carol, 'presence', 'chat:3')).users, [
        { userId: 'bob', sockets: 1 },
        { userId: 'carol', sockets: 1 },
        { userId: 'gina', sockets: 1 },
      ]);
    });

    test('diagnostic: join event latency across instances at ~100 joins/s', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const N = 300;
      const carol = await as(a.url, 'carol');
      const arrived = new Map<string, number>();
      carol.on('presence:join', (d: { userId: string }) => arrived.set(d.userId, performance.now()));
      await joined(carol, 'chat:lat');
      const sockets = await Promise.all(Array.from({ length: N }, (_, i) => as(b.url, `lat-${i}`)));
      const sent = new Map<string, number>();
      for (const [i, socket] of sockets.entries()) {
        sent.set(`lat-${i}`, performance.now());
        socket.emit('join', 'chat:lat');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await waitFor('every join event', () => (arrived.size >= N + 1 ? true : undefined), 20_000);
      const latencies = [...sent]
        .map(([user, at]) => (arrived.get(user) as number) - at)
        .sort((x, y) => x - y);
      const pct = (p: number) => latencies[Math.min(N - 1, Math.floor((p / 100) * N))]?.toFixed(1);
      t.diagnostic(
        `presence:join latency B→A over ${N} joins at ~100/s: p50 ${pct(50)} ms, p99 ${pct(99)} ms`,
      );
      for (const socket of sockets) socket.disconnect();
    });
  });
}
