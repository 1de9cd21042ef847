// Malformed input: thousands of seeded, mutated Engine.IO / Socket.IO frames over raw WebSockets and
// long-polling POSTs at one instance of a two-instance cluster, on both transports. The relay must not
// exit, clients connected throughout must get every message exactly once and in order (on the fuzzed
// instance and across instances), and a fresh client must be served normally afterwards.
// FUZZ_SEED=<n> replays a run's mutations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'socket.io-client';
import { metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { FrameFuzzer } from '../helpers/mutate.js';
import { RawPolling, RawWebSocket } from '../helpers/raw-eio.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
/** How long the fuzzers run per transport. */
const FUZZ_MS = Number(process.env.FUZZ_MS ?? 20_000);
const WEBSOCKET_FUZZERS = 4;
const POLLING_FUZZERS = 2;
const TICK_MS = 20;
const REQUEST_TIMEOUT_MS = 5_000;

interface Counts {
  /** WebSocket frames written to the socket. */
  frames: number;
  /** Long-polling POSTs answered (any status). */
  posts: number;
  /** Other malformed HTTP requests (bad version, transport, sid). */
  requests: number;
  /** Connections opened to carry the above. */
  sessions: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function websocketFuzzer(url: string, fuzz: FrameFuzzer, deadline: number, counts: Counts) {
  while (Date.now() < deadline) {
    const raw = await RawWebSocket.open(url);
    counts.sessions++;
    // Most sessions join the namespace first, so their frames reach Socket.IO and the built-ins. Half of
    // them send only well-formed events with wrong arguments (the connection stays open, every frame
    // reaches a handler); the others send anything, and the first garbage frame ends the session.
    if (fuzz.chance(0.8)) await raw.connect().catch(() => {});
    const survivable = fuzz.chance(0.5);
    const burst = 1 + fuzz.int(60);
    send: for (let i = 0; i < burst && Date.now() < deadline; i++) {
      const frames = fuzz.chance(0.05) ? fuzz.binaryEvent() : [survivable ? fuzz.event(true) : fuzz.frame()];
      for (const frame of frames) {
        if (!(await raw.write(frame))) break send;
        counts.frames++;
      }
    }
    if (fuzz.chance(0.5)) await sleep(fuzz.int(20));
    raw.close();
  }
}

async function pollingFuzzer(url: string, fuzz: FrameFuzzer, deadline: number, counts: Counts) {
  const timeout = () => AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  while (Date.now() < deadline) {
    if (fuzz.chance(0.1)) {
      const query = fuzz.pick([
        'EIO=3&transport=polling',
        'EIO=4&transport=flash',
        'EIO=4&transport=polling&sid=nope',
        'EIO=4&transport=websocket',
        'EIO=4&transport=polling&sid=%00%ff',
        'transport=polling',
      ]);
      const method = fuzz.pick(['GET', 'POST', 'PUT', 'OPTIONS']);
      const body = method === 'POST' || method === 'PUT' ? fuzz.bytes(64) : undefined;
      const res = await fetch(`${url}/socket.io/?${query}`, { method, body, signal: timeout() });
      await res.arrayBuffer();
      counts.requests++;
      continue;
    }
    const session = await RawPolling.open(url);
    counts.sessions++;
    if (fuzz.chance(0.8)) await session.post('40');
    const burst = 1 + fuzz.int(8);
    for (let i = 0; i < burst && Date.now() < deadline; i++) {
      const body = fuzz.pollingBody();
      const contentType = typeof body === 'string' ? 'text/plain;charset=UTF-8' : 'application/octet-stream';
      const status = await session.post(body, contentType);
      counts.posts++;
      if (status !== 200) break;
    }
  }
}

/** Numbered ticks at a steady pace from a well-behaved publisher; resolves with how many were acked. */
function tick(publisher: Socket, room: string, until: () => boolean): Promise<number> {
  return (async () => {
    let n = 0;
    while (!until()) {
      n++;
      const reply = await ask(publisher, 'publish', { room, event: 'tick', data: { n } });
      assert.deepEqual(reply, { ok: true }, `tick ${n}`);
      await sleep(TICK_MS);
    }
    return n;
  })();
}

for (const [index, transport] of (['uws', 'ws'] as const).entries()) {
  describe(`malformed frames (${transport})`, () => {
    let redis: RedisServer | undefined;
    let a: RelayProcess;
    let b: RelayProcess;
    before(async () => {
      if (!toolAvailable('redis-server')) return;
      redis = await startRedis();
      const common = ['--redis-url', redis.url, '--transport', transport];
      [a, b] = await Promise.all([
        startRelay([...common, '--instance-id', 'fuzzed']),
        startRelay([...common, '--instance-id', 'bystander']),
      ]);
    });
    after(async () => {
      closeClients();
      await a?.stop('SIGKILL');
      await b?.stop('SIGKILL');
      await redis?.stop();
    });

    test('the relay survives, others lose nothing, and a fresh client is served afterwards', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const publisher = await client(a.url, { transports: ['websocket'] });
      const watchers = [
        await client(a.url, { transports: ['websocket'] }),
        await client(a.url, { transports: ['polling'] }),
        await client(b.url, { transports: ['websocket'] }),
      ];
      for (const w of watchers) assert.deepEqual(await ask(w, 'join', 'steady'), { ok: true });
      const ticks = watchers.map((w) => collect<{ n: number }>(w, 'tick'));

      const counts: Counts = { frames: 0, posts: 0, requests: 0, sessions: 0 };
      const started = Date.now();
      const deadline = started + FUZZ_MS;
      let fuzzing = true;
      const steady = tick(publisher, 'steady', () => !fuzzing);
      const seed = SEED + index * 1000;
      await Promise.all([
        ...Array.from({ length: WEBSOCKET_FUZZERS }, (_, i) =>
          websocketFuzzer(a.url, new FrameFuzzer(seed + i), deadline, counts),
        ),
        ...Array.from({ length: POLLING_FUZZERS }, (_, i) =>
          pollingFuzzer(a.url, new FrameFuzzer(seed + 100 + i), deadline, counts),
        ),
      ]);
      fuzzing = false;
      const sent = await steady;
      const events = await metric(a, 'relay_events_in_total');
      t.diagnostic(
        `${transport}: seed ${seed}, ${counts.frames} WebSocket frames, ${counts.posts} polling POSTs, ` +
          `${counts.requests} malformed requests over ${counts.sessions} sessions in ${Date.now() - started} ms; ` +
          `${events} events reached the handlers; ${sent} steady ticks`,
      );

      assert.equal(a.child.exitCode, null, 'the fuzzed relay is still running');
      assert.equal(a.child.signalCode, null);
      assert.equal((await fetch(`${a.adminUrl}/healthz`)).status, 200);
      const expected = Array.from({ length: sent }, (_, i) => i + 1);
      for (const [i, list] of ticks.entries()) {
        await received(`ticks at watcher ${i}`, list, sent);
        assert.deepEqual(
          list.map((m) => m.n),
          expected,
          `watcher ${i} got every tick once, in order`,
        );
      }
      const internal = a.logs.filter((l) => l.level === 'error');
      assert.deepEqual(internal, [], 'no internal error was logged');

      // The same nesting through the admin API is refused too.
      const deep = await fetch(`${a.adminUrl}/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"room":"fz","event":"deep","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      });
      assert.equal(deep.status, 400);
      assert.equal(((await deep.json()) as { error: { code: string } }).error.code, 'RLY_ERR_BAD_REQUEST');

      const fresh = await client(a.url);
      const who = await ask(fresh, 'whoami');
      assert.equal(who.ok, true);
      assert.equal(who.instanceId, 'fuzzed');
      assert.deepEqual(await ask(fresh, 'join', 'after'), { ok: true });
      const far = watchers[2] as Socket;
      assert.deepEqual(await ask(far, 'join', 'after'), { ok: true });
      const atFresh = collect(fresh, 'done');
      const atFar = collect(far, 'done');
      assert.deepEqual(await ask(fresh, 'publish', { room: 'after', event: 'done', data: 1 }), { ok: true });
      await received('the publish at the fresh client', atFresh, 1);
      await received('the publish across instances', atFar, 1);
    });
  });
}
