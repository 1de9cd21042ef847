// Recovery across a graceful restart, on both transports, with the client on WebSocket and on polling
// (which upgrades after recovery): the uWS transport must subscribe restored sockets to their topics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'socket.io-client';
import { adminPublish } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { RawWebSocket } from '../helpers/raw-eio.js';
import { type RedisServer, redisCommand, startRedis, suiteRedis } from '../helpers/redis.js';
import { startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

type Seq = { n: number };

const cases = [
  { transport: 'uws', clientMode: 'websocket' },
  { transport: 'uws', clientMode: 'polling-then-upgrade' },
  { transport: 'ws', clientMode: 'websocket' },
  { transport: 'ws', clientMode: 'polling-then-upgrade' },
] as const;

describe('recovery across a graceful restart', () => {
  let redis: RedisServer | undefined;
  before(async () => {
    if (!toolAvailable('redis-server')) return;
    redis = await startRedis();
  });
  after(async () => {
    closeClients();
    await redis?.stop();
  });

  for (const { transport, clientMode } of cases) {
    test(`${transport} transport, client on ${clientMode}`, async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const common = ['--redis-url', redis.url, '--transport', transport];
      const a = await startRelay([...common, '--instance-id', `A-${transport}`]);
      const bPort = await freePort();
      let b = await startRelay([...common, '--instance-id', `B-${transport}`, '--port', String(bPort)]);
      t.after(async () => {
        await a.stop('SIGKILL');
        await b.stop('SIGKILL');
      });

      const transports = clientMode === 'websocket' ? ['websocket'] : ['polling', 'websocket'];
      const sender = await client(a.url, { transports: ['websocket'] });
      const socket: Socket = await client(b.url, { transports });
      const news = collect<Seq>(socket, 'news');
      const direct = collect<Seq>(socket, 'direct');
      const everyone = collect<Seq>(socket, 'everyone');
      assert.deepEqual(await ask(socket, 'join', 'news'), { ok: true });
      const idBefore = socket.id;

      // The client has seen one broadcast, so it holds an offset to recover from.
      await adminPublish(a, { room: 'news', event: 'news', data: { n: 0 } });
      await received('first broadcast', news, 1);

      assert.equal(await b.stop('SIGTERM'), 0, 'B drains and exits 0');
      for (let n = 1; n <= 20; n++) await adminPublish(a, { room: 'news', event: 'news', data: { n } });

      b = await startRelay([...common, '--instance-id', `B-${transport}`, '--port', String(bPort)]);
      await received('missed broadcasts', news, 21);
      assert.equal(socket.recovered, true, 'the client reports recovered');
      assert.equal(socket.id, idBefore, 'the socket id is kept');
      const me = await ask(socket, 'whoami');
      assert.equal(me.recovered, true);
      assert.equal(me.instanceId, `B-${transport}`);

      if (clientMode !== 'websocket') {
        await waitFor('upgrade to websocket', () => socket.io.engine.transport.name === 'websocket');
      }
      // Live traffic after recovery: room broadcast, direct message, namespace-wide broadcast.
      assert.deepEqual(await ask(sender, 'publish', { room: 'news', event: 'news', data: { n: 21 } }), {
        ok: true,
      });
      assert.deepEqual(await ask(sender, 'publish', { room: socket.id, event: 'direct', data: { n: 1 } }), {
        ok: true,
      });
      await adminPublish(a, { event: 'everyone', data: { n: 1 } });
      await received('live room broadcast', news, 22);
      await received('live direct message', direct, 1);
      await received('live namespace broadcast', everyone, 1);

      // Settle, then check nothing arrived twice or out of order.
      await adminPublish(a, { room: 'news', event: 'news', data: { n: 22 } });
      await received('closing broadcast', news, 23);
      assert.deepEqual(
        news.map((m) => m.n),
        Array.from({ length: 23 }, (_, i) => i),
      );
      assert.deepEqual(direct, [{ n: 1 }]);
      assert.deepEqual(everyone, [{ n: 1 }]);
    });
  }
});

describe('a restore that fails half-way', () => {
  const redis = suiteRedis();

  /** The event frames of `raw` for `event`, with their arguments (the last one is the offset). */
  const events = (raw: RawWebSocket, event: string) =>
    raw.frames
      .filter((f) => f.startsWith(`42["${event}"`))
      .map((f) => JSON.parse(f.slice(2)) as [string, Seq, string]);

  test('the handshake dies while its restore waits on Redis: the retry still recovers every missed message, once', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const relay = await startRelay(['--redis-url', redis.server.url]);
    t.after(() => relay.stop('SIGKILL'));

    const first = await RawWebSocket.open(relay.url);
    await first.connect();
    const { pid } = JSON.parse((first.frames.find((f) => f.startsWith('40{')) as string).slice(2)) as {
      pid: string;
    };
    assert.deepEqual(await first.ask('join', 'news'), { ok: true });
    await adminPublish(relay, { room: 'news', event: 'news', data: { n: 0 } });
    const [, , offset] = await waitFor('the first message', () => events(first, 'news')[0]);
    first.close();
    for (let n = 1; n <= 20; n++) await adminPublish(relay, { room: 'news', event: 'news', data: { n } });

    // Redis stops answering for a second: the reconnect's restore waits on it, and its client gives up.
    assert.equal(await redisCommand(redis.server.port, ['CLIENT', 'PAUSE', '1000', 'ALL']), 'OK');
    const abandoned = await RawWebSocket.open(relay.url);
    assert.equal(await abandoned.write(`40${JSON.stringify({ pid, offset })}`), true);
    abandoned.close();
    // Redis answers the relay in order: once this publish is acknowledged, the restore has read Redis.
    await adminPublish(relay, { room: 'news', event: 'news', data: { n: 21 } });

    const retry = await RawWebSocket.open(relay.url);
    retry.send(`40${JSON.stringify({ pid, offset })}`);
    const connect = await waitFor('the CONNECT', () => retry.frames.find((f) => f.startsWith('40{')));
    assert.equal((JSON.parse(connect.slice(2)) as { pid: string }).pid, pid, 'the session was recovered');
    await waitFor('every missed message', () => events(retry, 'news').length >= 21 || undefined);
    assert.deepEqual(
      events(retry, 'news').map(([, data]) => data.n),
      Array.from({ length: 21 }, (_, i) => i + 1),
    );
    retry.close();
  });
});

describe('a session restores only into its own namespace', () => {
  const redis = suiteRedis();

  test('a session made on /app, where private:* may be joined, is not restored on /, which forbids it', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const config = writeConfig({
      namespaces: {
        '/': { join: ['lobby'], publish: ['*'] },
        '/app': { join: ['private:*'], publish: ['*'] },
      },
    });
    const relay = await startRelay(['--redis-url', redis.server.url, '--config', config]);
    t.after(() => relay.stop('SIGKILL'));

    const app = await RawWebSocket.open(relay.url);
    app.send('40/app,');
    const connect = await waitFor('the /app CONNECT', () => app.frames.find((f) => f.startsWith('40/app,{')));
    const { pid } = JSON.parse(connect.slice('40/app,'.length)) as { pid: string };
    app.send('42/app,1["join","private:victim"]');
    await waitFor('the join ack', () => app.frames.find((f) => f.startsWith('43/app,1[')));
    await adminPublish(relay, { namespace: '/app', room: 'private:victim', event: 'secret', data: { n: 0 } });
    const event = await waitFor('an offset on /app', () =>
      app.frames.find((f) => f.startsWith('42/app,["secret"')),
    );
    const offset = (JSON.parse(event.slice('42/app,'.length)) as unknown[])[2] as string;
    app.close();

    const thief = await RawWebSocket.open(relay.url);
    thief.send(`40${JSON.stringify({ pid, offset })}`);
    const reply = await waitFor('the CONNECT on /', () => thief.frames.find((f) => f.startsWith('40{')));
    assert.notEqual((JSON.parse(reply.slice(2)) as { pid: string }).pid, pid, 'not restored on /');
    assert.equal(((await thief.ask('whoami')) as { recovered: boolean }).recovered, false);
    thief.close();
  });
});
