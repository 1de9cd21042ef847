// Zero-loss operations: recovery after kill -9 (same or another instance), a burst that would evict the
// stock adapter's stream, continuous publishing while clients recover, evictions reported, drain at a rate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'socket.io-client';
import { adminPublish, metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

type Seq = { n: number };
const seqs = (list: Seq[]) => list.map((m) => m.n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

after(() => closeClients());

describe('zero-loss recovery over Redis', () => {
  let redis: RedisServer | undefined;
  before(async () => {
    if (toolAvailable('redis-server')) redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  /** Instance A (stays up) and B (on a fixed port, so it can come back where its clients reconnect). */
  async function pair(t: { after: (fn: () => Promise<unknown>) => void }, args: string[] = []) {
    if (!redis) throw new Error('redis-server is not installed');
    const common = ['--redis-url', redis.url, ...args];
    const bPort = await freePort();
    const a = await startRelay([...common, '--instance-id', 'A']);
    const bArgs = [...common, '--instance-id', 'B', '--port', String(bPort)];
    const holder = { a, b: await startRelay(bArgs), restartB: async () => {} };
    holder.restartB = async () => {
      holder.b = await startRelay(bArgs);
    };
    t.after(async () => {
      await holder.a.stop('SIGKILL');
      await holder.b.stop('SIGKILL');
    });
    return holder;
  }

  /** A client on `relay`, in `room`, that has received one broadcast (so it holds a recovery offset). */
  async function primed(relay: RelayProcess, from: RelayProcess, room: string, transports = ['websocket']) {
    const socket = await client(relay.url, { transports });
    const got = collect<Seq>(socket, room);
    assert.deepEqual(await ask(socket, 'join', room), { ok: true });
    await adminPublish(from, { room, event: room, data: { n: 0 } });
    await received(`first ${room} message`, got, 1);
    return { socket, got };
  }

  for (const transport of ['uws', 'ws'] as const) {
    test(`kill -9 of the holder, restart: recovered, 20 missed messages exactly once, in order (${transport})`, async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const env = await pair(t, ['--transport', transport]);
      const { socket, got } = await primed(env.b, env.a, 'news');
      const id = socket.id;
      await env.b.stop('SIGKILL');
      for (let n = 1; n <= 20; n++) await adminPublish(env.a, { room: 'news', event: 'news', data: { n } });
      await env.restartB();
      await received('missed messages', got, 21);
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, id);
      await adminPublish(env.a, { room: 'news', event: 'news', data: { n: 21 } });
      await received('live message after recovery', got, 22);
      assert.deepEqual(seqs(got), range(0, 21));
    });
  }

  test('kill -9 of the holder, the client reconnects to another instance: recovered there', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const env = await pair(t);
    const { socket, got } = await primed(env.b, env.a, 'news');
    // What a load balancer does when B is gone: the next connection lands on A.
    (socket.io as unknown as { uri: string }).uri = env.a.url;
    await env.b.stop('SIGKILL');
    for (let n = 1; n <= 20; n++) await adminPublish(env.a, { room: 'news', event: 'news', data: { n } });
    await received('missed messages', got, 21);
    assert.equal(socket.recovered, true);
    assert.equal((await ask(socket, 'whoami')).instanceId, 'A');
    assert.deepEqual(seqs(got), range(0, 20));
  });

  test('a burst of 15,000 messages to another room does not evict a recovering client', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const env = await pair(t);
    const { socket, got } = await primed(env.b, env.a, 'mine');
    const publisher = await client(env.a.url, { transports: ['websocket'] });
    await env.b.stop('SIGKILL');
    const acks: Promise<unknown>[] = [];
    for (let i = 1; i <= 15_000; i++) {
      acks.push(ask(publisher, 'publish', { room: 'other', event: 'other', data: { n: i } }));
      if (i % 1500 === 0)
        acks.push(ask(publisher, 'publish', { room: 'mine', event: 'mine', data: { n: i / 1500 } }));
    }
    for (const ack of await Promise.all(acks)) assert.deepEqual(ack, { ok: true });
    await env.restartB();
    await received('own room messages after the burst', got, 11, 20_000);
    assert.equal(socket.recovered, true);
    assert.deepEqual(seqs(got), range(0, 10));
    assert.equal(await metric(env.b, 'relay_replayed_packets_total'), 10);
  });

  // Two ways to meet live traffic while recovering: the publisher on another instance (its packets come
  // through this instance's stream reader), or on the very instance the clients recover on (its packets
  // are delivered locally, a few microtasks after their XADD).
  const scenarios = [
    { transport: 'uws', signal: 'SIGKILL', recoverOn: 'B' },
    { transport: 'ws', signal: 'SIGKILL', recoverOn: 'B' },
    { transport: 'uws', signal: 'SIGTERM', recoverOn: 'A' },
    { transport: 'ws', signal: 'SIGTERM', recoverOn: 'A' },
  ] as const;
  for (const { transport, signal, recoverOn } of scenarios) {
    test(`publishing on A while clients recover on ${recoverOn} after ${signal} of B: no gap, no duplicate (${transport})`, async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const env = await pair(t, ['--transport', transport]);
      const clients: Array<{ socket: Socket; got: Seq[] }> = [];
      for (let i = 0; i < 20; i++) {
        clients.push(await primed(env.b, env.a, 'live', i % 2 ? ['polling', 'websocket'] : ['websocket']));
      }
      // Client i also gets the priming messages of the clients after it: wait for all of them before
      // clearing, or a late one would count as a message from the run.
      for (const [i, c] of clients.entries()) await received(`priming at client ${i}`, c.got, 20 - i);
      for (const c of clients) {
        c.got.length = 0;
        if (recoverOn === 'A') (c.socket.io as unknown as { uri: string }).uri = env.a.url;
      }
      const publisher = await client(env.a.url, { transports: ['websocket'] });
      let sent = 0;
      let stopped = false;
      const publishing = (async () => {
        while (!stopped && sent < 20_000) {
          const reply = await ask(publisher, 'publish', { room: 'live', event: 'live', data: { n: ++sent } });
          assert.deepEqual(reply, { ok: true });
        }
      })();
      await waitFor('publishing under way', () => sent >= 200);
      assert.equal(await env.b.stop(signal), signal === 'SIGTERM' ? 0 : 'SIGKILL');
      if (recoverOn === 'B') {
        await waitFor('more publishing while B is down', () => sent >= 600);
        await env.restartB();
      }
      await waitFor(
        'every client recovered',
        () => clients.every((c) => c.socket.connected && c.socket.recovered),
        20_000,
      );
      const recoveredAt = sent;
      await waitFor('publishing past the recovery', () => sent >= recoveredAt + 500, 20_000);
      stopped = true;
      await publishing;
      for (const [i, c] of clients.entries()) {
        await received(`all messages at client ${i}`, c.got, sent, 20_000);
        const ns = seqs(c.got);
        const duplicates = ns.length - new Set(ns).size;
        assert.deepEqual(ns, range(1, sent), `client ${i}: ${ns.length} received, ${duplicates} duplicated`);
      }
    });
  }

  test('a client whose missed packets were evicted by the length cap is told so in a metric and a log line', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const env = await pair(t, ['--recovery-max-entries', '1000']);
    const { socket } = await primed(env.b, env.a, 'news');
    const publisher = await client(env.a.url, { transports: ['websocket'] });
    await env.b.stop('SIGKILL');
    const acks: Promise<unknown>[] = [];
    for (let i = 1; i <= 3000; i++)
      acks.push(ask(publisher, 'publish', { room: 'news', event: 'news', data: { n: i } }));
    await Promise.all(acks);
    await env.restartB();
    await waitFor('reconnect', () => socket.connected, 20_000);
    assert.equal(socket.recovered, false, 'a fresh session, since packets it needed are gone');
    assert.equal(await metric(env.b, 'relay_recovery_failures_total', { reason: 'offset-gone' }), 1);
    const line = env.b.logs.find((l) => l.msg === 'connection state not recovered');
    assert.equal(line?.reason, 'offset-gone');
  });
});

describe('drain at a rate', () => {
  test('readiness fails first, new clients are refused, disconnects are spread at --drain-rate', async () => {
    const relay = await startRelay(['--drain-rate', '20']);
    const sockets = await Promise.all(
      Array.from({ length: 40 }, () => client(relay.url, { reconnection: false })),
    );
    const closedAt: number[] = [];
    for (const s of sockets) s.once('disconnect', () => closedAt.push(Date.now()));
    const firstClosed = new Promise<void>((resolve) => {
      for (const s of sockets) s.once('disconnect', () => resolve());
    });
    const res = await fetch(`${relay.adminUrl}/v1/drain`, { method: 'POST' });
    assert.equal(res.status, 202);
    await firstClosed;
    // 39 more disconnects at 20/s take at least 1.9 s: the instance is mid-drain now.
    const ready = await fetch(`${relay.adminUrl}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { ready: false, reasons: ['draining'] });
    await assert.rejects(
      client(relay.url, { reconnection: false, timeout: 2000 }),
      'no new client while draining',
    );
    assert.equal(await relay.exited(), 0);
    assert.equal(closedAt.length, 40);
    const spreadMs = Math.max(...closedAt) - Math.min(...closedAt);
    assert.ok(spreadMs >= 1500, `40 disconnects at 20/s were spread over ${spreadMs} ms`);
    const plan = relay.logs.find((l) => l.msg === 'closing sockets for recovery');
    assert.deepEqual([plan?.connections, plan?.ratePerSecond], [40, 20]);
  });
});
