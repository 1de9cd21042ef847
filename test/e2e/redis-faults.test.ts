// Redis faults with two instances sharing one real redis-server: Redis killed during traffic and started
// again on the same port, and Redis unreachable when the relays start. Local delivery goes on, readiness
// is 503 while Redis is gone, publishes during the outage are refused with RLY_ERR_CLUSTER (and reach only
// the publisher's instance), the stream reader does not spin, and cross-instance delivery resumes by
// itself. The test prints the measured timeline.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, type TestContext, test } from 'node:test';
import { createClient } from 'redis';
import type { Socket } from 'socket.io-client';
import { metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

type Msg = { from: string; n: number };
type Reply = { ok: true } | { ok: false; error: { code: string; message: string } };
interface Sent {
  n: number;
  ok: boolean;
  code?: string;
  /** Refused because Redis did not answer in time: it may still be delivered, late. */
  unanswered?: boolean;
  /** How long the ack took. */
  ms: number;
}

const PUBLISH_EVERY_MS = 25;
const OUTAGE_MS = 3_000;
/** Far above an idle relay (about 1 %); a reader that retried without pause would use a whole core. */
const MAX_CPU_WHILE_DOWN = 0.25;
const FROZEN_MS = 6_000;
/** A PING every second, answered within 2 s or the connection is made again: about 3 s, plus slack. */
const MAX_ACK_WHILE_FROZEN_MS = 4_500;

after(() => closeClients());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readyStatus(relay: RelayProcess): Promise<number> {
  return (await fetch(`${relay.adminUrl}/readyz`)).status;
}

/** Resolves with the time (Date.now()) at which every relay's /readyz first answered `status`. */
async function whenReadiness(relays: RelayProcess[], status: number, timeoutMs = 15_000): Promise<number> {
  await waitFor(
    `readiness ${status}`,
    async () => (await Promise.all(relays.map(readyStatus))).every((s) => s === status),
    timeoutMs,
  );
  return Date.now();
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Share of one core each relay used over `ms`. */
async function cpuShare(relays: RelayProcess[], ms: number): Promise<number[]> {
  const before = relays.map((r) => cpuSeconds(r.child.pid as number));
  await sleep(ms);
  return relays.map((r, i) => (cpuSeconds(r.child.pid as number) - (before[i] as number)) / (ms / 1000));
}

/** Publishes `{ from, n }` to `room` every few ms until stopped; records each ack in order. */
function publisher(socket: Socket, from: string, room: string) {
  const sent: Sent[] = [];
  let running = true;
  const done = (async () => {
    for (let n = 1; running; n++) {
      const at = Date.now();
      const reply = await ask<Reply>(socket, 'publish', { room, event: 'msg', data: { from, n } }).catch(
        () => undefined,
      );
      const ms = Date.now() - at;
      if (!reply) sent.push({ n, ok: false, code: 'no ack within 5 s', ms });
      else if (reply.ok) sent.push({ n, ok: true, ms });
      else {
        const unanswered = reply.error.message.includes('did not answer');
        sent.push({ n, ok: false, code: reply.error.code, unanswered, ms });
      }
      await sleep(PUBLISH_EVERY_MS);
    }
  })();
  return {
    sent,
    async stop() {
      running = false;
      await done;
    },
  };
}

const numbers = (list: Msg[], from: string) => list.filter((m) => m.from === from).map((m) => m.n);
const ns = (sent: Sent[], which: (s: Sent) => boolean = () => true) => sent.filter(which).map((s) => s.n);

/** Log lines of one message, to check that an outage is logged once, not once per failed operation. */
const logged = (relay: RelayProcess, msg: string) => relay.logs.filter((l) => l.msg === msg).length;

/**
 * Two relays on one Redis (A on uws, B on ws), a publisher and a member on each (B's member on long-polling),
 * all in one room, publishing until stopped; resolves once messages cross both ways.
 */
async function trafficAcrossTwoRelays(t: TestContext, redisUrl: string) {
  const common = ['--redis-url', redisUrl];
  const [a, b] = await Promise.all([
    startRelay([...common, '--instance-id', 'A', '--transport', 'uws']),
    startRelay([...common, '--instance-id', 'B', '--transport', 'ws']),
  ]);
  t.after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
  const [pubA, atA, pubB, atB] = await Promise.all([
    client(a.url, { transports: ['websocket'] }),
    client(a.url, { transports: ['websocket'] }),
    client(b.url, { transports: ['websocket'] }),
    client(b.url, { transports: ['polling'] }),
  ]);
  for (const s of [pubA, atA, pubB, atB]) assert.deepEqual(await ask(s, 'join', 'room'), { ok: true });
  const gotA = collect<Msg>(atA, 'msg');
  const gotB = collect<Msg>(atB, 'msg');
  const fromA = publisher(pubA, 'A', 'room');
  const fromB = publisher(pubB, 'B', 'room');
  // A failed assertion must not leave the loops running.
  t.after(() => void Promise.all([fromA.stop(), fromB.stop()]));
  await waitFor(
    'traffic across instances',
    () => numbers(gotA, 'B').length >= 5 && numbers(gotB, 'A').length >= 5,
  );
  return { a, b, atA, atB, gotA, gotB, fromA, fromB };
}

test('Redis killed during traffic and restarted on the same port: local delivery goes on, refusals are coded, the cluster heals by itself', async (t) => {
  if (!toolAvailable('redis-server')) return t.skip('redis-server is not installed');
  let redis: RedisServer = await startRedis();
  const port = redis.port;
  t.after(() => redis.stop());
  const { a, b, atA, atB, gotA, gotB, fromA, fromB } = await trafficAcrossTwoRelays(t, redis.url);

  // Kill.
  const killedAt = Date.now();
  await redis.stop();
  const notReadyAt = await whenReadiness([a, b], 503);
  const ready = await (await fetch(`${a.adminUrl}/readyz`)).json();
  assert.deepEqual(ready, { ready: false, reasons: ['redis unavailable'] });

  // While Redis is gone: local clients are served at once, admin publishes are refused, no spinning.
  const duringOutage = Date.now();
  assert.deepEqual(await ask(atA, 'join', 'another-room'), { ok: true });
  assert.equal((await ask(atB, 'whoami')).ok, true);
  assert.ok(Date.now() - duringOutage < 1_000, 'join and whoami answer promptly without Redis');
  const adminRefusal = await fetch(`${a.adminUrl}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: 'room', event: 'msg', data: { from: 'admin', n: 1 } }),
  });
  assert.equal(adminRefusal.status, 503);
  assert.equal(((await adminRefusal.json()) as { error: { code: string } }).error.code, 'RLY_ERR_CLUSTER');
  const cpu = await cpuShare([a, b], OUTAGE_MS);
  for (const share of cpu)
    assert.ok(share < MAX_CPU_WHILE_DOWN, `CPU while Redis is down: ${cpu.join(', ')}`);

  // Restart on the same port; the relays reconnect by themselves.
  redis = await startRedis({ port });
  const restartedAt = Date.now();
  const crossBefore = numbers(gotA, 'B').length;
  const firstCross = waitFor(
    'the first cross-instance delivery after the restart',
    () => (numbers(gotA, 'B').length > crossBefore ? Date.now() : undefined),
    15_000,
  );
  const readyAgainAt = await whenReadiness([a, b], 200);
  const firstCrossAt = await firstCross;
  await sleep(1_000);
  await Promise.all([fromA.stop(), fromB.stop()]);

  // Every publish acked ok reached every member on both instances, once and in order; a refused one
  // (RLY_ERR_CLUSTER) reached the members on the publisher's own instance only.
  for (const [from, pub] of [
    ['A', fromA],
    ['B', fromB],
  ] as const) {
    const refused = pub.sent.filter((s) => !s.ok);
    assert.ok(refused.length > 0, `some publishes from ${from} fell in the outage`);
    for (const s of refused) assert.equal(s.code, 'RLY_ERR_CLUSTER');
    const [local, remote] = from === 'A' ? [gotA, gotB] : [gotB, gotA];
    await waitFor(`every message from ${from} at its local member`, () =>
      numbers(local, from).length >= pub.sent.length ? true : undefined,
    );
    assert.deepEqual(numbers(local, from), ns(pub.sent), `${from}'s local member got all, in order`);
    await waitFor(`the accepted messages from ${from} across instances`, () =>
      numbers(remote, from).length >= ns(pub.sent, (s) => s.ok).length ? true : undefined,
    );
    assert.deepEqual(
      numbers(remote, from),
      ns(pub.sent, (s) => s.ok),
      `the other instance got exactly the accepted messages from ${from}, in order`,
    );
  }

  // Counted in metrics, logged once per state change.
  for (const relay of [a, b]) {
    assert.ok((await metric(relay, 'relay_redis_errors_total', { client: 'main' })) >= 1);
    assert.equal(logged(relay, 'redis connection lost'), 1);
    assert.equal(logged(relay, 'redis connection ready'), 2);
    const warnings = relay.logs.filter((l) => l.level === 'warn');
    assert.ok(warnings.length <= 4, `${warnings.length} warnings: ${JSON.stringify(warnings)}`);
  }

  t.diagnostic(
    `outage timeline: kill → readiness 503 in ${notReadyAt - killedAt} ms; ` +
      `restart → readiness 200 in ${readyAgainAt - restartedAt} ms; ` +
      `restart → first cross-instance delivery in ${firstCrossAt - restartedAt} ms; ` +
      `CPU while down ${cpu.map((c) => `${(c * 100).toFixed(1)} %`).join(' / ')}; ` +
      `refused publishes ${fromA.sent.filter((s) => !s.ok).length} (A) + ${fromB.sent.filter((s) => !s.ok).length} (B)`,
  );
});

test('Redis frozen (SIGSTOP) during traffic: readiness 503 within seconds, every ack within seconds, all back when it resumes', async (t) => {
  if (!toolAvailable('redis-server')) return t.skip('redis-server is not installed');
  const redis = await startRedis();
  t.after(() => redis.stop());
  const { a, b, atA, gotA, gotB, fromA, fromB } = await trafficAcrossTwoRelays(t, redis.url);

  const frozenAt = Date.now();
  redis.freeze();
  const notReadyAt = await whenReadiness([a, b], 503, FROZEN_MS);
  assert.deepEqual(await (await fetch(`${b.adminUrl}/readyz`)).json(), {
    ready: false,
    reasons: ['redis unavailable'],
  });
  const duringFreeze = Date.now();
  assert.equal((await ask(atA, 'whoami')).ok, true);
  assert.ok(Date.now() - duringFreeze < 1_000, 'whoami answers promptly while Redis is frozen');
  await sleep(FROZEN_MS - (Date.now() - frozenAt));

  redis.thaw();
  const thawedAt = Date.now();
  const crossBefore = numbers(gotA, 'B').length;
  const firstCross = waitFor(
    'the first cross-instance delivery after Redis resumed',
    () => (numbers(gotA, 'B').length > crossBefore ? Date.now() : undefined),
    15_000,
  );
  const readyAgainAt = await whenReadiness([a, b], 200);
  const firstCrossAt = await firstCross;
  await sleep(1_000);
  await Promise.all([fromA.stop(), fromB.stop()]);

  const all = [...fromA.sent, ...fromB.sent];
  const longestAck = Math.max(...all.map((s) => s.ms));
  assert.ok(longestAck <= MAX_ACK_WHILE_FROZEN_MS, `the longest ack took ${longestAck} ms`);
  for (const [from, pub] of [
    ['A', fromA],
    ['B', fromB],
  ] as const) {
    const refused = pub.sent.filter((s) => !s.ok);
    assert.ok(refused.length > 0, `some publishes from ${from} fell in the freeze`);
    for (const s of refused) assert.equal(s.code, 'RLY_ERR_CLUSTER');
    const accepted = ns(pub.sent, (s) => s.ok);
    for (const [where, got] of [
      ['A', gotA],
      ['B', gotB],
    ] as const) {
      await waitFor(`the accepted messages from ${from} at ${where}`, () =>
        accepted.every((n) => numbers(got, from).includes(n)) ? true : undefined,
      );
      // A publish refused as unanswered may still arrive, once, late (Redis had it before it froze);
      // one refused as unavailable reached only the publisher's instance, when it was refused, which can
      // be after later publishes went through once Redis was back. Everything accepted is in order.
      const late = new Set(ns(pub.sent, (s) => s.unanswered === true));
      const refusedHere = new Set(ns(pub.sent, (s) => !s.ok));
      const seen = numbers(got, from);
      assert.equal(new Set(seen).size, seen.length, `${where} got no message from ${from} twice`);
      const inOrder = seen.filter((n) => !refusedHere.has(n));
      assert.deepEqual(
        inOrder,
        [...inOrder].sort((x, y) => x - y),
        `${where} got ${from}'s messages in order`,
      );
      if (where !== from) {
        const unexpected = seen.filter((n) => !accepted.includes(n) && !late.has(n));
        assert.deepEqual(unexpected, [], `${where} got only accepted or late messages from ${from}`);
      }
    }
  }
  for (const relay of [a, b]) assert.equal(logged(relay, 'redis not answering'), 1);

  t.diagnostic(
    `freeze timeline: SIGSTOP → readiness 503 in ${notReadyAt - frozenAt} ms; longest ack ${longestAck} ms; ` +
      `SIGCONT → readiness 200 in ${readyAgainAt - thawedAt} ms, first cross-instance delivery in ` +
      `${firstCrossAt - thawedAt} ms; refused publishes ${fromA.sent.filter((s) => !s.ok).length} (A) + ` +
      `${fromB.sent.filter((s) => !s.ok).length} (B)`,
  );
});

test('Redis unreachable when the relays start: they serve local clients, then join the cluster when it comes up', async (t) => {
  if (!toolAvailable('redis-server')) return t.skip('redis-server is not installed');
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const startedAt = Date.now();
  const [a, b] = await Promise.all([
    startRelay(['--redis-url', url, '--instance-id', 'A']),
    startRelay(['--redis-url', url, '--instance-id', 'B']),
  ]);
  t.after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
  const listeningAfter = Date.now() - startedAt;

  for (const relay of [a, b]) {
    const res = await fetch(`${relay.adminUrl}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      ready: false,
      reasons: ['redis unavailable', 'stream reader not running'],
    });
    assert.equal(logged(relay, 'redis unavailable'), 1, 'the outage is logged once');
  }
  const cpu = await cpuShare([a, b], 2_000);
  for (const share of cpu)
    assert.ok(share < MAX_CPU_WHILE_DOWN, `CPU while Redis is down: ${cpu.join(', ')}`);

  // Local clients are served; a publish reaches this instance's members and is refused with a code.
  const [alice, anna, bob] = await Promise.all([client(a.url), client(a.url), client(b.url)]);
  for (const s of [alice, anna, bob]) assert.deepEqual(await ask(s, 'join', 'room'), { ok: true });
  const atAnna = collect<Msg>(anna, 'msg');
  const atBob = collect<Msg>(bob, 'msg');
  const refused = await ask<Reply>(alice, 'publish', {
    room: 'room',
    event: 'msg',
    data: { from: 'A', n: 0 },
  });
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.error.code, 'RLY_ERR_CLUSTER');
  await received('the refused publish at the local member', atAnna, 1);

  const redis = await startRedis({ port });
  t.after(() => redis.stop());
  const upAt = Date.now();
  const readyAt = await whenReadiness([a, b], 200);
  const crossAt = await waitFor(
    'the first cross-instance delivery',
    async () => {
      const reply = await ask<Reply>(bob, 'publish', {
        room: 'room',
        event: 'msg',
        data: { from: 'B', n: 1 },
      });
      if (!reply.ok) return undefined;
      await received('the message from B at A', atAnna, 2);
      return Date.now();
    },
    15_000,
  );
  for (let n = 1; n <= 10; n++) {
    assert.deepEqual(await ask(alice, 'publish', { room: 'room', event: 'msg', data: { from: 'A', n } }), {
      ok: true,
    });
  }
  // Bob also gets B's own message: count A's, not the list, or the last of A's can still be on its way.
  await waitFor('A’s messages at B', () => numbers(atBob, 'A').length >= 10 || undefined);
  assert.deepEqual(numbers(atBob, 'A'), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'nothing refused arrives later');
  assert.deepEqual(numbers(atAnna, 'B'), [1]);

  // Sessions of the clients that connected while Redis was away were written once it came up, so they
  // could recover after a crash of their instance.
  const check = createClient({ url: redis.url });
  await check.connect();
  try {
    const sessions = await waitFor('the sessions in Redis', async () => {
      const keys = await check.keys('relay:session:*');
      return keys.length >= 3 ? keys : undefined;
    });
    assert.equal(sessions.length, 3);
  } finally {
    await check.disconnect();
  }

  t.diagnostic(
    `Redis down at start: relays listening after ${listeningAfter} ms; Redis up → readiness 200 in ` +
      `${readyAt - upAt} ms, → first cross-instance delivery in ${crossAt - upAt} ms; ` +
      `CPU while down ${cpu.map((c) => `${(c * 100).toFixed(1)} %`).join(' / ')}`,
  );
});

test('a stream read that keeps failing is retried with backoff, not in a tight loop', async (t) => {
  if (!toolAvailable('redis-server')) return t.skip('redis-server is not installed');
  const redis = await startRedis();
  t.after(() => redis.stop());
  const [a, b] = await Promise.all([
    startRelay(['--redis-url', redis.url, '--instance-id', 'A']),
    startRelay(['--redis-url', redis.url, '--instance-id', 'B']),
  ]);
  t.after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
  const admin = createClient({ url: redis.url });
  admin.on('error', () => {}); // Redis is killed at the end, possibly before this client is closed.
  await admin.connect();
  t.after(() => admin.disconnect());
  const xreadFailures = async () =>
    Number((await admin.info('commandstats')).match(/cmdstat_xread:.*failed_calls=(\d+)/)?.[1] ?? 0);

  // Redis is up but every XREAD fails at once (the stream's key now holds a string).
  await admin.set('socket.io', 'not a stream');
  await waitFor(
    'the readers to fail',
    () =>
      logged(a, 'stream reader failing, retrying with backoff') === 1 &&
      logged(b, 'stream reader failing, retrying with backoff') === 1,
    10_000,
  );
  const before = await xreadFailures();
  const cpu = await cpuShare([a, b], 3_000);
  const failed = (await xreadFailures()) - before;
  // Backoff doubles from 100 ms: at most 5 attempts each in 3 s (a tight loop would make thousands).
  assert.ok(failed <= 12, `${failed} failed XREADs in 3 s`);
  for (const share of cpu) assert.ok(share < MAX_CPU_WHILE_DOWN, `CPU while reads fail: ${cpu.join(', ')}`);

  // Once the key is a stream again, the readers resume by themselves and deliver across instances.
  await admin.del('socket.io');
  const [alice, bob] = await Promise.all([client(a.url), client(b.url)]);
  for (const s of [alice, bob]) assert.deepEqual(await ask(s, 'join', 'room'), { ok: true });
  const atBob = collect<Msg>(bob, 'msg');
  await waitFor(
    'the readers to resume',
    () => logged(a, 'stream reader resumed') === 1 && logged(b, 'stream reader resumed') === 1,
    15_000,
  );
  assert.deepEqual(await ask(alice, 'publish', { room: 'room', event: 'msg', data: { from: 'A', n: 1 } }), {
    ok: true,
  });
  await received('the message across instances', atBob, 1);
  t.diagnostic(
    `${failed} failed XREADs in 3 s while the stream key held a string; CPU ${cpu.map((c) => `${(c * 100).toFixed(1)} %`).join(' / ')}`,
  );
});
