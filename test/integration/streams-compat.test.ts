// The relay's stream and channels are @socket.io/redis-streams-adapter's: a plain Socket.IO server on the
// stock adapter and a relay share one Redis, and broadcasts and cluster-wide requests cross both ways.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { adminPublish } from '../helpers/admin.js';
import { ask, client, closeClients, collect } from '../helpers/clients.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

describe('compatibility with the stock Redis Streams adapter', () => {
  let redis: RedisServer | undefined;
  before(async () => {
    if (toolAvailable('redis-server')) redis = await startRedis();
  });
  after(async () => {
    closeClients();
    await redis?.stop();
  });

  test('broadcasts cross between a relay and a stock Socket.IO server on the same stream, both ways', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const relay = await startRelay(['--redis-url', redis.url]);
    const redisClient = createClient({ url: redis.url });
    await redisClient.connect();
    const http = createServer();
    const stock = new Server(http, { adapter: createAdapter(redisClient) });
    stock.on('connection', (socket) => socket.join('news'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      stock.close();
      await redisClient.quit();
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
