// Serverless-style backends against real processes: an HTTP function served by this test, work-queue
// workers in their own processes importing `edge-relay/backend` from another project, three relays over
// a real Redis, and the durable disconnects of a killed instance.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { createBackend } from '../../src/backend/index.js';
import { defaultQueueStream } from '../../src/config/namespaces.js';
import { createEmitter } from '../../src/emitter/index.js';
import { JOB_FIELD, type QueueJob, type QueueReply } from '../../src/upstream/queue-protocol.js';
import { metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, fence, received } from '../helpers/clients.js';
import { REPLAY_WINDOW_MS, startFunctionServer, verifySignature } from '../helpers/function-server.js';
import { freePort } from '../helpers/ports.js';
import { exited, jsonLines, track, waitFor } from '../helpers/processes.js';
import { type RedisServer, redisCommand, startRedis, suiteRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the relay, the function and workers, read field by field
type Json = any;

const SECRET = 'function-secret-0123456789';
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A function backend that answers by event name. */
function startFunction() {
  return startFunctionServer(SECRET, (call, reply) => {
    if (call.type === 'connect') {
      if (call.socket.handshake.auth.user === 'mallory') {
        return reply(200, { accept: false, error: { code: 'APP_DENIED', message: 'mallory may not enter' } });
      }
      const accepted = { data: { user: call.socket.handshake.auth.user, role: 'member' }, join: ['team:1'] };
      // Slow enough for a client to leave before its handshake is answered; a leave too, which on uws
      // touches the WebSocket like a join.
      if (String(call.socket.handshake.auth.user).startsWith('leaver'))
        return setTimeout(() => reply(200, { ...accepted, leave: ['lobby'] }), 300).unref();
      return reply(200, accepted);
    }
    if (call.type === 'disconnect') return reply(204);
    if (call.event === 'shout') {
      return reply(200, {
        ack: [{ ok: true, heard: call.args?.[0] }],
        emit: [
          { room: 'team:1', event: 'shouted', data: { by: call.socket.data.user, text: call.args?.[0] } },
        ],
      });
    }
    if (call.event === 'fail') return reply(500, { oops: true });
    if (call.event === 'garbage') return reply(200, 'not json');
    if (call.event === 'slow') return setTimeout(() => reply(200, { ack: ['late'] }), 3_000).unref();
    return reply(200, { ack: [{ ok: true }] });
  });
}

/** Another project that installs edge-relay: its own folder, with the package linked into node_modules. */
function consumerProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-worker-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPO, join(dir, 'node_modules', 'edge-relay'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'worker', type: 'module', private: true }));
  writeFileSync(
    join(dir, 'worker.mjs'),
    `import { createBackend } from 'edge-relay/backend';
const [redisUrl, name, mode] = process.argv.slice(2);
const log = (line) => console.log(JSON.stringify({ by: name, ...line }));
const backend = createBackend({ redisUrl, namespace: '/jobs', group: 'workers', consumer: name, claimIdleMs: 1000 });
backend.handle('task', async (data, ctx) => {
  log({ handled: data.n, socket: ctx.socket.id });
  if (mode === 'hold') await new Promise(() => {});
  await new Promise((r) => setTimeout(r, 20));
  ctx.to('jobs:all').emit('progress', { n: data.n, by: name });
  return { ok: true, n: data.n, by: name, worker: ctx.socket.data.worker };
});
backend.onConnect((ctx) => {
  if (ctx.socket.handshake.auth.user === 'mallory') throw Object.assign(new Error('no jobs for mallory'), { code: 'APP_DENIED' });
  ctx.socket.data = { ...ctx.socket.data, worker: name };
  ctx.join('jobs:all');
});
backend.onDisconnect((ctx, reason) => log({ disconnect: ctx.socket.id, reason }));
await backend.start();
log({ ready: true });
process.on('SIGTERM', async () => { await backend.close(); process.exit(0); });
`,
  );
  return dir;
}

interface Worker {
  child: ChildProcess;
  lines: Array<Record<string, Json>>;
}

async function startWorker(dir: string, redisUrl: string, name: string, mode = 'normal'): Promise<Worker> {
  const child = track(
    spawn(process.execPath, ['worker.mjs', redisUrl, name, mode], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const lines = jsonLines<Record<string, Json>>(child);
  await waitFor(`worker ${name} ready`, () => lines.some((l) => l.ready), 15_000);
  return { child, lines };
}

/** The holding id (`<instanceId>/<bootId>`) of the life of `instanceId` that `relay` lists as live now. */
async function holdingOf(relay: RelayProcess, instanceId: string): Promise<string> {
  return waitFor(`${instanceId} in /v1/instances`, async () => {
    const { instances } = (await (await fetch(`${relay.adminUrl}/v1/instances`)).json()) as {
      instances: Array<{ instanceId: string; bootId: string }>;
    };
    const live = instances.find((i) => i.instanceId === instanceId);
    return live && `${instanceId}/${live.bootId}`;
  });
}

/**
 * The `lost instance swept` lines about `holding`, from any relay. A sweep logs one once it has ended every
 * socket of the holding it could and dropped the holding from the cluster's list: after that no sweep can
 * end any of them again, so no further "instance lost" disconnect of that holding can be sent.
 */
function sweepsOf(relays: RelayProcess[], holding: string): Array<{ sockets: number }> {
  return relays
    .flatMap((r) => r.logs)
    .filter((l) => l.msg === 'lost instance swept' && l.holding === holding) as Array<{ sockets: number }>;
}

describe('backends', () => {
  let redis: RedisServer | undefined;
  let fn: Awaited<ReturnType<typeof startFunction>>;
  /** A function that answers 503 while `failing`; `delivered` lists the disconnects it took. */
  let flaky: Awaited<ReturnType<typeof startFunctionServer>>;
  const flakiness = { failing: false, delivered: [] as string[] };
  let project: string;
  let relays: RelayProcess[] = [];
  let configFile: string;
  let common: string[];
  const workers: Worker[] = [];

  before(async () => {
    if (!toolAvailable('redis-server')) return;
    redis = await startRedis();
    fn = await startFunction();
    flaky = await startFunctionServer(SECRET, (call, reply) => {
      if (flakiness.failing) return reply(503, { down: true });
      if (call.type === 'disconnect') flakiness.delivered.push(call.socket.id);
      return reply(200, call.type === 'event' ? { ack: [{ ok: true }] } : {});
    });
    project = consumerProject();
    // Nothing listens there: every call to the /dead function fails to connect.
    const deadPort = await freePort();
    configFile = writeConfig({
      namespaces: {
        '/app': {
          join: ['*'],
          publish: ['*'],
          upstream: { http: { url: fn.url, secret: SECRET, timeoutMs: 1000 } },
        },
        '/jobs': { join: ['*'], publish: ['*'], upstream: { queue: { timeoutMs: 20_000 } } },
        '/dead': { upstream: { http: { url: `http://127.0.0.1:${deadPort}/`, secret: SECRET } } },
        '/flaky': { upstream: { http: { url: flaky.url, secret: SECRET, timeoutMs: 1000 } } },
      },
    });
    common = ['--redis-url', redis.url, '--config', configFile, '--instance-timeout', '6000'];
    relays = await Promise.all(
      ['A', 'B', 'C'].map((id, i) =>
        startRelay([...common, '--instance-id', id, '--transport', i === 1 ? 'ws' : 'uws']),
      ),
    );
  });
  after(async () => {
    closeClients();
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(relays.map((r) => r.stop('SIGKILL')));
    await fn?.close();
    await flaky?.close();
    await redis?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  test('HTTP function: connect refused with its code, accepted with data and rooms; events answered with acks and emits across instances', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a, b] = relays as [RelayProcess, RelayProcess];
    await assert.rejects(
      client(a.url, { auth: { user: 'mallory' } }, '/app'),
      (err: Error & { data?: Json }) => {
        assert.equal(err.message, 'mallory may not enter');
        assert.equal(err.data?.code, 'APP_DENIED');
        return true;
      },
    );
    const alice = await client(a.url, { auth: { user: 'alice' } }, '/app');
    const bob = await client(b.url, { auth: { user: 'bob' }, transports: ['websocket'] }, '/app');
    const atAlice = collect<Json>(alice, 'shouted');
    const atBob = collect<Json>(bob, 'shouted');

    assert.deepEqual(await ask(alice, 'shout', 'hello'), { ok: true, heard: 'hello' });
    assert.deepEqual(await ask(alice, 'shout', 'again'), { ok: true, heard: 'again' });
    await received('shouts at bob', atBob, 2);
    await received('shouts at alice', atAlice, 2);
    // Each ack came after its emits were in the stream: a marker published now arrives after any copy of them.
    const end = { by: 'test', text: 'fence' };
    await fence([atBob, atAlice], end, (data) =>
      ask(alice, 'publish', { room: 'team:1', event: 'shouted', data }),
    );
    const expected = [{ by: 'alice', text: 'hello' }, { by: 'alice', text: 'again' }, end];
    assert.deepEqual(
      atBob,
      expected,
      'bob (other instance, joined by the function) got each emit once, in order',
    );
    assert.deepEqual(atAlice, expected);

    const shout = fn.calls.find((c) => c.type === 'event' && c.event === 'shout' && c.socket.id === alice.id);
    assert.ok(shout, 'the function saw the event');
    assert.equal(shout.socket.instanceId, 'A');
    assert.deepEqual(shout.socket.rooms, ['team:1']);
    assert.equal(shout.socket.data.role, 'member', 'connect data became socket.data');
    assert.equal(shout.socket.handshake.headers.cookie, undefined);
    assert.equal(fn.badSignatures(), 0, 'every call carried a valid signature');
  });

  test('HTTP function: 500, invalid JSON and timeout give coded error acks within the timeout; the relay keeps serving', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    const carol = await client(a.url, { auth: { user: 'carol' } }, '/app');
    const fail = await ask<Json>(carol, 'fail');
    assert.equal(fail.ok, false);
    assert.equal(fail.error.code, 'RLY_ERR_UPSTREAM_STATUS');
    assert.equal((await ask<Json>(carol, 'garbage')).error.code, 'RLY_ERR_UPSTREAM_INVALID');
    const started = Date.now();
    const slow = await ask<Json>(carol, 'slow');
    const took = Date.now() - started;
    assert.equal(slow.error.code, 'RLY_ERR_UPSTREAM_TIMEOUT');
    assert.ok(took >= 900 && took < 2_500, `timed out after the 1000 ms timeout (took ${took} ms)`);
    assert.deepEqual(await ask(carol, 'ping'), { ok: true }, 'the same socket is still served');
    assert.equal(carol.connected, true);
    const calls = (outcome: string) =>
      metric(a, 'relay_upstream_calls_total', { namespace: '/app', type: 'event', outcome });
    assert.ok((await calls('RLY_ERR_UPSTREAM_TIMEOUT')) >= 1, 'timeouts are counted');
    assert.ok((await calls('RLY_ERR_UPSTREAM_STATUS')) >= 1, 'non-2xx answers are counted');
    assert.ok((await metric(a, 'relay_upstream_duration_seconds_count', { namespace: '/app' })) >= 5);
  });

  test('HTTP function: calls sign a timestamp with the body; a captured call replayed later, or re-dated, fails the check', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    const before = fn.captured.length;
    const erin = await client(a.url, { auth: { user: 'erin' } }, '/app');
    await waitFor('the connect call', () => fn.captured.length > before);
    erin.disconnect();
    const { headers, body } = fn.captured[before] as (typeof fn.captured)[number];
    const at = Number(headers['x-relay-timestamp']);
    assert.ok(Math.abs(Date.now() - at) < 60_000, `a fresh timestamp: ${headers['x-relay-timestamp']}`);
    assert.equal(verifySignature(SECRET, headers, body), true, 'the reference check accepts the call');
    assert.equal(
      verifySignature(SECRET, headers, body, at + REPLAY_WINDOW_MS + 1000),
      false,
      'replayed later',
    );
    const redated = { ...headers, 'x-relay-timestamp': String(Date.now()) };
    assert.equal(verifySignature(SECRET, redated, body, at + REPLAY_WINDOW_MS + 1000), false, 're-dated');
    assert.equal(fn.badSignatures(), 0);
  });

  test('HTTP function: a disconnect is delivered once, with its reason', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    const dave = await client(a.url, { auth: { user: 'dave' } }, '/app');
    const id = dave.id;
    dave.disconnect();
    await waitFor('disconnect call', () =>
      fn.calls.find((c) => c.type === 'disconnect' && c.socket.id === id),
    );
    // No event would announce a second call: a duplicate would start from the same disconnect, a tick
    // apart, so it arrives within a round trip of the first. The sleep stays, short.
    await new Promise((r) => setTimeout(r, 500));
    const disconnects = fn.calls.filter((c) => c.type === 'disconnect' && c.socket.id === id);
    assert.equal(disconnects.length, 1);
    assert.equal(disconnects[0]?.reason, 'client namespace disconnect');
    assert.deepEqual(disconnects[0]?.socket.rooms, ['team:1']);
  });

  test('HTTP function: a client that leaves before its accepted connect completes still gets one disconnect', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a, b] = relays as [RelayProcess, RelayProcess];
    for (const [relay, transport] of [
      [a, 'websocket'],
      [a, 'polling'],
      [b, 'websocket'],
      [b, 'polling'],
    ] as const) {
      const user = `leaver-${relay === a ? 'uws' : 'ws'}-${transport}`;
      const leaver = io(`${relay.url}/app`, {
        forceNew: true,
        auth: { user },
        transports: [transport],
        reconnection: false,
      });
      const connectCall = await waitFor(`${user}: the connect call`, () =>
        fn.calls.find((c) => c.type === 'connect' && c.socket.handshake.auth.user === user),
      );
      leaver.io.engine.close();
      const id = connectCall.socket.id;
      await waitFor(`${user}: the disconnect call`, () =>
        fn.calls.some((c) => c.type === 'disconnect' && c.socket.id === id),
      );
      // Long enough for a second one to arrive, were it sent. No event would announce it: the two paths
      // that could each send one (the handshake's end and the socket's disconnect) run a tick apart.
      await new Promise((r) => setTimeout(r, 500));
      const calls = fn.calls.filter((c) => c.socket.id === id).map((c) => [c.type, c.reason ?? null]);
      assert.deepEqual(
        calls,
        [
          ['connect', null],
          ['disconnect', 'transport close'],
        ],
        user,
      );
      assert.equal(leaver.connected, false);
    }
  });

  test('emitter: a push from another process reaches a room on every instance, once', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a, b] = relays as [RelayProcess, RelayProcess];
    const x = await client(a.url, { auth: { user: 'x' } }, '/app');
    const y = await client(b.url, { auth: { user: 'y' } }, '/app');
    const atX = collect<Json>(x, 'news');
    const atY = collect<Json>(y, 'news');
    const emitter = createEmitter({ redisUrl: redis.url });
    for (let n = 1; n <= 3; n++) await emitter.of('/app').to('team:1').emit('news', { n });
    await emitter
      .of('/app')
      .to(y.id as string)
      .emit('news', { n: 'direct' });
    await received('news at y', atY, 4);
    await received('news at x', atX, 3);
    // The same stream: once this last push is in, any copy of the earlier ones would be too.
    await fence([atX, atY], { n: 'fence' }, (data) => emitter.of('/app').to('team:1').emit('news', data));
    await emitter.close();
    assert.deepEqual(atX, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'fence' }]);
    assert.deepEqual(atY, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'direct' }, { n: 'fence' }]);
  });

  test('work queue: two workers from another project share 20 tasks, each processed once and acked', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a, b] = relays as [RelayProcess, RelayProcess];
    workers.push(await startWorker(project, redis.url, 'w1'), await startWorker(project, redis.url, 'w2'));
    await assert.rejects(
      client(a.url, { auth: { user: 'mallory' } }, '/jobs'),
      (err: Error & { data?: Json }) => {
        assert.equal(err.data?.code, 'APP_DENIED');
        return true;
      },
    );
    const erin = await client(a.url, { auth: { user: 'erin' } }, '/jobs');
    const watcher = await client(b.url, { auth: { user: 'watcher' } }, '/jobs');
    const progress = collect<Json>(watcher, 'progress');
    const acks = await Promise.all(
      Array.from({ length: 20 }, (_, i) => erin.timeout(15_000).emitWithAck('task', { n: i + 1 })),
    );
    assert.deepEqual(
      acks.map((ack) => ack.n),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    for (const ack of acks)
      assert.ok(ack.worker === 'w1' || ack.worker === 'w2', 'connect data reached the worker');
    const handled = workers.flatMap((w) =>
      w.lines.filter((l) => l.handled !== undefined && l.socket === erin.id),
    );
    assert.deepEqual(
      handled.map((l) => l.handled).sort((p, q) => p - q),
      Array.from({ length: 20 }, (_, i) => i + 1),
      'each task handled exactly once',
    );
    const by = new Set(handled.map((l) => l.by));
    assert.deepEqual([...by].sort(), ['w1', 'w2'], 'both workers took a share');
    await received('progress at the watcher (joined to jobs:all by onConnect)', progress, 20);
    assert.equal(progress.length, 20);
  });

  test('work queue: tasks held by a killed worker are redelivered to another and acked', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    for (const w of workers.splice(0)) {
      w.child.kill('SIGTERM');
      await exited(w.child);
    }
    const holder = await startWorker(project, redis.url, 'holder', 'hold');
    const frank = await client(a.url, { auth: { user: 'frank' } }, '/jobs');
    const pending = Array.from({ length: 5 }, (_, i) =>
      frank.timeout(15_000).emitWithAck('task', { n: 100 + i }),
    );
    await waitFor(
      'the holder took all 5 tasks',
      () => holder.lines.filter((l) => l.handled >= 100).length === 5,
    );
    holder.child.kill('SIGKILL');
    await exited(holder.child);
    const rescuer = await startWorker(project, redis.url, 'rescuer');
    workers.push(rescuer);
    const acks = await Promise.all(pending);
    assert.deepEqual(
      acks.map((ack) => [ack.n, ack.by]),
      [100, 101, 102, 103, 104].map((n) => [n, 'rescuer']),
    );
  });

  test('HTTP function: a dead function trips the circuit breaker, which refuses at once instead of piling up', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    const errors: string[] = [];
    for (let i = 0; i < 7; i++) {
      await assert.rejects(client(a.url, {}, '/dead'), (err: Error & { data?: Json }) => {
        errors.push(`${err.data?.code}: ${err.message}`);
        return true;
      });
    }
    assert.deepEqual(
      errors.slice(0, 5),
      Array(5).fill('RLY_ERR_UPSTREAM_UNAVAILABLE: upstream could not be reached'),
    );
    assert.deepEqual(
      errors.slice(5),
      Array(2).fill('RLY_ERR_UPSTREAM_UNAVAILABLE: upstream circuit is open after repeated failures'),
    );
    assert.equal(await metric(a, 'relay_upstream_circuit_open', { namespace: '/dead' }), 1);
  });

  test('HTTP function: a disconnect refused while the circuit is open is retried until the function is back, and delivered once', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const [a] = relays as [RelayProcess];
    const erin = await client(a.url, {}, '/flaky');
    const id = erin.id as string;
    assert.deepEqual(await ask(erin, 'ping'), { ok: true });
    flakiness.failing = true;
    // Five failures in a row open the namespace's circuit; then calls are refused without being sent.
    for (let i = 0; i < 5; i++) {
      const reply = await ask<{ error: { code: string } }>(erin, 'ping');
      assert.equal(reply.error.code, 'RLY_ERR_UPSTREAM_STATUS');
    }
    const refused = await ask<{ error: { message: string } }>(erin, 'ping');
    assert.match(refused.error.message, /circuit is open/);
    const attempts = () =>
      metric(a, 'relay_upstream_calls_total', { namespace: '/flaky', type: 'disconnect' });
    const attemptsBefore = await attempts();
    erin.disconnect();
    // Refused twice (by the function, or by the open circuit): the disconnect is being retried, not dropped.
    await waitFor(
      'two refused attempts at the disconnect',
      async () => (await attempts()) >= attemptsBefore + 2,
    );
    assert.deepEqual(flakiness.delivered, [], 'nothing delivered while the function fails');
    flakiness.failing = false;
    // The retrier logs this once the call went through, and stops: no attempt follows it.
    const retried = await waitFor(
      'the disconnect, once the function is back',
      () =>
        a.logs.find(
          (l) => l.msg === 'disconnect delivered to the backend after retries' && l.socketId === id,
        ),
      30_000,
    );
    assert.ok(Number(retried.attempts) > 2);
    assert.deepEqual(flakiness.delivered, [id], 'delivered once');
  });

  test('a drained instance reports its disconnects itself; the recovered socket is a new connect, never an "instance lost"', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const port = String(await freePort());
    const d = await startRelay([...common, '--instance-id', 'D', '--port', port]);
    relays.push(d);
    const ivy = await client(d.url, { auth: { user: 'ivy' } }, '/app');
    const id = ivy.id as string;
    const firstLife = await holdingOf(d, 'D');
    // A broadcast gives the client an offset to recover from.
    const shouts = collect<Json>(ivy, 'shouted');
    await ask(ivy, 'shout', 'before the restart');
    await received('ivy hears her own shout', shouts, 1);
    assert.equal(await d.stop('SIGTERM'), 0);
    const d2 = await startRelay([...common, '--instance-id', 'D', '--port', port]);
    relays.push(d2);
    await waitFor('ivy recovered on the restarted instance', () => ivy.connected && ivy.recovered, 15_000);
    assert.equal(ivy.id, id);
    const forIvy = () =>
      fn.calls
        .filter((c) => c.socket.id === id && c.type !== 'event')
        .map((c) => [c.type, c.reason ?? c.socket.recovered ?? false]);
    await waitFor('the recovered connect', () => forIvy().length >= 3);
    // The first life of D is swept once it is no longer live: it had released ivy itself, so nothing is
    // ended, and from then on nothing of it can be.
    const swept = await waitFor(`a sweep of ${firstLife}`, () => {
      const lines = sweepsOf(relays, firstLife);
      return lines.length > 0 && lines;
    });
    assert.deepEqual(
      swept.map((l) => l.sockets),
      swept.map(() => 0),
      'the drained life held nothing any more',
    );
    assert.deepEqual(forIvy(), [
      ['connect', false],
      ['disconnect', 'forced close'],
      ['connect', true],
    ]);
  });

  test('the instance holding sockets is killed: each disconnect reaches the function and the queue backend exactly once', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const redisPort = redis.port;
    const [, b] = relays as [RelayProcess, RelayProcess];
    const gina = await client(b.url, { auth: { user: 'gina' }, reconnection: false }, '/app');
    const hank = await client(b.url, { auth: { user: 'hank' }, reconnection: false }, '/jobs');
    const ginaId = gina.id as string;
    const hankId = hank.id as string;
    // Connected the moment before the kill: each was held before it heard `connect`, so none is missed.
    const namespaces = Array.from({ length: 16 }, (_, i) => (i % 2 ? '/jobs' : '/app'));
    const late = (
      await Promise.all(
        namespaces.map((nsp, i) => client(b.url, { auth: { user: `late${i}` }, reconnection: false }, nsp)),
      )
    ).map((socket, i) => ({ nsp: namespaces[i], id: socket.id as string }));
    const holding = await holdingOf(b, 'B');
    const instanceLost = () =>
      fn.calls.filter((c) => c.type === 'disconnect' && c.reason === 'instance lost').length +
      workers.flatMap((w) => w.lines.filter((l) => l.disconnect && l.reason === 'instance lost')).length;
    const lostBefore = instanceLost();
    const killedAt = Date.now();
    await b.stop('SIGKILL');
    const disconnectsAtFunction = (id: string) =>
      fn.calls.filter((c) => c.type === 'disconnect' && c.socket.id === id);
    const disconnectsAtQueue = (id: string) =>
      workers.flatMap((w) => w.lines.filter((l) => l.disconnect === id));
    const disconnects = (socket: { nsp?: string; id: string }) =>
      socket.nsp === '/app' ? disconnectsAtFunction(socket.id) : disconnectsAtQueue(socket.id);
    const lost = await waitFor(
      'instance-lost disconnects',
      () => {
        const atFunction = disconnectsAtFunction(ginaId);
        const atQueue = disconnectsAtQueue(hankId);
        const allLate = late.every((s) => disconnects(s).length > 0);
        return atFunction.length > 0 && atQueue.length > 0 && allLate && { atFunction, atQueue };
      },
      30_000,
    ).catch((err) => {
      const missing = late.filter((s) => disconnects(s).length === 0).map((s) => `${s.nsp} ${s.id}`);
      console.log(`# late sockets without a disconnect: ${JSON.stringify(missing)}`);
      for (const r of relays) console.log(`# ${JSON.stringify(r.logs.slice(-8))}`);
      throw err;
    });
    const tookMs = Date.now() - killedAt;
    // Every socket of B is ended by exactly one sweep, which sends its disconnect and, once the holding is
    // empty, drops it and logs how many it ended (several survivors may sweep at once: each logs its own
    // count). When the counts add up to the "instance lost" disconnects the backends received, every
    // sweep is over and each of its calls has arrived; none can follow.
    const ended = () => sweepsOf(relays, holding).reduce((sum, l) => sum + l.sockets, 0);
    await waitFor(`the sweeps of ${holding} to add up to the disconnects received`, () => {
      const n = ended();
      return n > 0 && n === instanceLost() - lostBefore;
    }).catch((err) => {
      const received = instanceLost() - lostBefore;
      console.log(`# ended by sweeps: ${ended()}, "instance lost" disconnects received: ${received}`);
      throw err;
    });
    // The work queue delivers at least once: every disconnect job is acked, so none will be delivered again.
    await waitFor('every job of /jobs acked', async () => {
      const [stream, groups] = await Promise.all([
        redisCommand(redisPort, ['XINFO', 'STREAM', 'relay:queue:/jobs']),
        redisCommand(redisPort, ['XINFO', 'GROUPS', 'relay:queue:/jobs']),
      ]);
      const fields = (list: unknown) => {
        const flat = list as unknown[];
        return Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[String(v), flat[i + 1]]])));
      };
      const group = (groups as unknown[]).map(fields).find((g) => g.name === 'workers');
      return group?.pending === 0 && group['last-delivered-id'] === fields(stream)['last-generated-id'];
    });
    const atFunction = disconnectsAtFunction(ginaId);
    const atQueue = disconnectsAtQueue(hankId);
    assert.deepEqual(
      late.map((s) => disconnects(s).map((d: Json) => d.reason)),
      late.map(() => ['instance lost']),
      'each socket connected just before the kill got one "instance lost" disconnect',
    );
    assert.equal(atFunction.length, 1, 'the function got the disconnect once');
    assert.equal(atQueue.length, 1, 'the queue backend got the disconnect once');
    assert.equal(atFunction[0]?.reason, 'instance lost');
    assert.equal(atQueue[0]?.reason, 'instance lost');
    assert.equal(atFunction[0]?.socket.instanceId, 'B');
    assert.deepEqual(atFunction[0]?.socket.rooms, ['team:1']);
    assert.equal(atFunction[0]?.socket.data.user, 'gina');
    assert.ok(lost.atFunction.length === 1);
    console.log(`# instance-lost disconnects delivered ${tookMs} ms after kill -9 (timeout 6000 ms)`);
  });
});

describe('backend SDK errors', () => {
  const redis = suiteRedis();

  test('a failing read reaches onError each time; the worker keeps reading and handles the next job', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const errors: Error[] = [];
    const backend = createBackend({
      redisUrl: redis.server.url,
      namespace: '/sdk',
      group: 'workers',
      claimIdleMs: 1000,
      onError: (err) => errors.push(err),
    });
    backend.handle('double', (n) => (n as number) * 2);
    await backend.start();
    t.after(() => backend.close());
    const stream = defaultQueueStream('/sdk');

    // The queue's key turned into a string: every read fails.
    await redis.client.del(stream);
    await redis.client.set(stream, 'not a stream');
    await waitFor(
      'two failed reads reported',
      () => errors.filter((e) => /WRONGTYPE/.test(e.message)).length >= 2,
    );

    // The queue back: the same worker answers the next job.
    await redis.client.del(stream);
    await redis.client.xGroupCreate(stream, 'workers', '$', { MKSTREAM: true });
    const replies = redis.client.duplicate();
    await replies.connect();
    t.after(() => replies.quit());
    const answered = new Promise<QueueReply>((resolve) =>
      replies.subscribe('sdk-test:reply', (raw) => resolve(JSON.parse(raw) as QueueReply)),
    );
    const socket = { id: 's1', instanceId: 'test', rooms: ['s1'], data: null };
    const job: QueueJob = {
      id: 'job-1',
      replyTo: 'sdk-test:reply',
      type: 'event',
      namespace: '/sdk',
      socket,
      event: 'double',
      args: [21],
    };
    await redis.client.xAdd(stream, '*', { [JOB_FIELD]: JSON.stringify(job) });
    assert.deepEqual(await answered, { id: 'job-1', reply: { ack: [42] } });
  });
});
