// Slow consumers: a WebSocket client that stops reading and a polling client that stops polling, in a
// room that receives large messages. Each is dropped with RLY_ERR_SLOW_CONSUMER once more than
// --max-backpressure bytes wait for it; the relay's memory stays bounded; a client that reads gets
// every message exactly once, in order.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { adminPublish, metric } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { waitFor } from '../helpers/processes.js';
import { RawPolling, RawWebSocket } from '../helpers/raw-eio.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const MAX_BACKPRESSURE = 1024 * 1024;
const MESSAGE_BYTES = 64 * 1024;
/** 128 MiB in all: without the bound, the relay would hold most of it for the stalled client. */
const MESSAGES = 2048;
/**
 * Peak growth measured: 10-90 MiB when this test was written, 136-159 MiB on 2026-12-01, most of it
 * garbage awaiting a major GC (when V8 runs one varies with load). Without the bound (--max-backpressure
 * 1 GiB), 393 MiB on uws and 511 MiB on ws the same day: the stalled clients hold all 128 MiB each. What
 * is held for one client is checked exactly from the drop log lines.
 */
const RSS_GROWTH_LIMIT = 250 * 1024 * 1024;
/**
 * The most a connection may hold: 4 × the bound (BURST_FACTOR) plus the packet that crossed it, checked
 * before each packet Engine.IO queues. uWS room broadcasts bypass Engine.IO and are checked every 0.5 s,
 * so there the limit is what one such interval adds (the publishes here come at about 16 MiB/s).
 */
const MOST_HELD = {
  engine: 4 * MAX_BACKPRESSURE + MESSAGE_BYTES + 1024,
  uwsBroadcast: 4 * MAX_BACKPRESSURE + 32 * 1024 * 1024,
};

// Cluster mode: recovery keeps what was published in the Redis stream. In single-node mode Socket.IO
// keeps it in the relay's memory for the recovery window, which would hide what this test measures.
let redis: RedisServer | undefined;
before(async () => {
  if (toolAvailable('redis-server')) redis = await startRedis();
});
after(async () => {
  closeClients();
  await redis?.stop();
});

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1]) * 1024;
}

for (const transport of ['uws', 'ws'] as const) {
  test(`clients that stop reading are dropped with RLY_ERR_SLOW_CONSUMER; memory stays bounded (${transport})`, async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const relay = await startRelay([
      '--redis-url',
      redis.url,
      '--transport',
      transport,
      '--max-backpressure',
      String(MAX_BACKPRESSURE),
    ]);
    t.after(() => relay.stop('SIGKILL'));
    const pid = relay.child.pid as number;

    const reader = await client(relay.url, { transports: ['websocket'] });
    assert.deepEqual(await ask(reader, 'join', 'feed'), { ok: true });
    const got = collect<{ n: number; pad: string }>(reader, 'big');

    const stalled = await RawWebSocket.open(relay.url);
    t.after(() => stalled.close());
    await stalled.connect();
    assert.deepEqual(await stalled.ask('join', 'feed'), { ok: true });
    const idle = await RawPolling.open(relay.url);
    await idle.connect();
    assert.deepEqual(await idle.ask('join', 'feed'), { ok: true });
    // From here on the WebSocket client reads nothing and the polling client never polls.
    stalled.pauseReading();

    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 20);
    t.after(() => clearInterval(sampler));

    const started = Date.now();
    const pad = 'x'.repeat(MESSAGE_BYTES);
    for (let n = 1; n <= MESSAGES; n++) {
      await adminPublish(relay, { room: 'feed', event: 'big', data: { n, pad } });
    }
    await received('every message at the reading client', got, MESSAGES, 60_000);
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(pid));
    const elapsed = Date.now() - started;
    const growth = peak - baseline;
    const drops = relay.logs.filter((l) => l.msg === 'slow consumer dropped');
    t.diagnostic(
      `${transport}: ${MESSAGES} × ${MESSAGE_BYTES} B in ${elapsed} ms; RSS ${(baseline / 2 ** 20).toFixed(1)} MiB before, peak ${(peak / 2 ** 20).toFixed(1)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB); dropped ${drops.map((l) => `${l.engine} at ${l.bufferedBytes} B`).join(', ')}`,
    );

    assert.deepEqual(
      got.map((m) => m.n),
      Array.from({ length: MESSAGES }, (_, i) => i + 1),
      'the reading client got every message exactly once, in order',
    );
    assert.equal(await metric(relay, 'relay_slow_consumers_dropped_total', { engine: 'websocket' }), 1);
    assert.equal(await metric(relay, 'relay_slow_consumers_dropped_total', { engine: 'polling' }), 1);
    assert.deepEqual(drops.map((l) => l.code).sort(), ['RLY_ERR_SLOW_CONSUMER', 'RLY_ERR_SLOW_CONSUMER']);
    for (const { engine, bufferedBytes } of drops) {
      const most = transport === 'uws' && engine === 'websocket' ? MOST_HELD.uwsBroadcast : MOST_HELD.engine;
      assert.ok((bufferedBytes as number) > MAX_BACKPRESSURE, `${engine} dropped at ${bufferedBytes} B`);
      assert.ok((bufferedBytes as number) <= most, `${engine} dropped at ${bufferedBytes} B`);
    }

    // The stalled client finds its connection closed once it reads again; the polling session is gone.
    stalled.resumeReading();
    await waitFor('the stalled WebSocket to close', () => stalled.closed, 10_000);
    assert.equal((await idle.poll()).status, 400);

    assert.ok(growth < RSS_GROWTH_LIMIT, `RSS grew by ${growth} B`);
    assert.equal((await ask(reader, 'whoami')).ok, true, 'the relay still serves');
  });
}

for (const transport of ['uws', 'ws'] as const) {
  test(`a dropped client that reconnects recovers every message it missed, once and in order (${transport})`, async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const relay = await startRelay([
      '--redis-url',
      redis.url,
      '--transport',
      transport,
      '--max-backpressure',
      String(256 * 1024),
    ]);
    t.after(() => relay.stop('SIGKILL'));
    const slow = await client(relay.url, { transports: ['websocket'] });
    assert.deepEqual(await ask(slow, 'join', 'feed'), { ok: true });
    const got = collect<{ n: number }>(slow, 'big');
    const reconnects: boolean[] = [];
    slow.on('connect', () => reconnects.push(slow.recovered));
    // socket.io-client runs on the `ws` package in Node: pause the TCP socket under its WebSocket.
    const engine = slow.io.engine as unknown as {
      transport: { ws: { _socket: { pause(): void; resume(): void } } };
    };
    const tcp = engine.transport.ws._socket;
    tcp.pause();

    const count = 1000;
    const pad = 'y'.repeat(16 * 1024);
    for (let n = 1; n <= count; n++)
      await adminPublish(relay, { room: 'feed', event: 'big', data: { n, pad } });
    await waitFor('the drop', async () => (await metric(relay, 'relay_slow_consumers_dropped_total')) === 1);
    tcp.resume();

    await received('every message, live or recovered', got, count, 30_000);
    // The replay of what it missed is a burst too: the client may be dropped again mid-replay, but each
    // reconnect resumes from what it has, so it converges.
    assert.ok(reconnects.length >= 1, 'it was dropped and reconnected');
    assert.ok(reconnects.every(Boolean), `every reconnect recovered the session: ${reconnects}`);
    assert.deepEqual(
      got.map((m) => m.n),
      Array.from({ length: count }, (_, i) => i + 1),
    );
  });
}
