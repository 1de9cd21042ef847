// The relay's stream and channels are @socket.io/redis-streams-adapter's: a plain Socket.IO server on the
// stock adapter and a relay share one Redis, and broadcasts and cluster-wide requests cross both ways.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Server } from 'socket.io';
import { adminPublish } from '../helpers/admin.js';
import { ask, client, closeClients, collect } from '../helpers/clients.js';
import { waitFor } from '../helpers/processes.js';
import { suiteRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';

describe('compatibility with the stock Redis Streams adapter', () => {
  const redis = suiteRedis();
  after(() => closeClients());

  test('broadcasts cross between a relay and a stock Socket.IO server on the same stream, both ways', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    const relay = await startRelay(['--redis-url', redis.server.url]);
    const http = createServer();
    const stock = new Server(http, { adapter: createAdapter(redis.client) });
    stock.on('connection', (socket) => socket.join('news'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      stock.close();
      await relay.stop('SIGKILL');
    });

    const atRelay = await client(relay.url, { transports: ['websocket'] });
    assert.deepEqual(await ask(atRelay, 'join', 'news'), { ok: true });
    const atStock = await client(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
      transports: ['websocket'],
    });
    const gotAtRelay = collect<{ n: number }>(atRelay, 'news');
    const gotAtStock = collect<{ n: number }>(atStock, 'news');

    // The stock adapter's reader starts at the stream's end once its connection is up: publish until it
    // reads, then check one message each way.
    await waitFor('the stock server reading the stream', async () => {
      await adminPublish(relay, { room: 'news', event: 'news', data: { n: 0 } });
      return gotAtStock.length > 0;
    });
    await adminPublish(relay, { room: 'news', event: 'news', data: { n: 1 } });
    await waitFor('the relay broadcast at the stock server', () => gotAtStock.some((m) => m.n === 1));
    stock.to('news').emit('news', { n: 2 });
    await waitFor('the stock broadcast at the relay', () => gotAtRelay.some((m) => m.n === 2));
    // Cluster-wide requests use the same Pub/Sub channels: the stock server lists the relay's socket.
    const ids = (await stock.in('news').fetchSockets()).map((s) => s.id);
    assert.ok(ids.includes(atRelay.id as string), `the relay's socket is listed: ${ids}`);
  });
});
