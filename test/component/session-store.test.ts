// The session store against a real Redis: flush resolves only once every write recorded before it is in
// Redis, whether it was waiting in the coalescing batch or already sent.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { createClient } from 'redis';
import type { Socket } from 'socket.io';
import type { RedisClient } from '../../src/cluster/redis.js';
import { SessionStore } from '../../src/cluster/session-store.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { suiteRedis } from '../helpers/redis.js';

const PREFIX = 'test:session:';
/** Long enough that a flush that does not wait resolves well before the writes are carried out. */
const PAUSE_MS = 300;

/** What the store reads of a Socket.IO socket with connection state recovery. */
const socket = (n: number) =>
  Object.assign(new EventEmitter(), {
    id: `sid-${n}`,
    pid: `pid-${n}`,
    rooms: new Set([`sid-${n}`]),
    data: { n },
    nsp: { name: '/' },
  }) as unknown as Socket;

describe('session store', () => {
  const redis = suiteRedis();

  test('flush waits for every write: batched saves and a delete already sent', async (t) => {
    if (!redis.server) return t.skip('redis-server is not installed');
    // The store's own connection: the checks below go through another one, as another instance's would.
    const writer: RedisClient = createClient({ url: redis.server.url });
    await writer.connect();
    t.after(() => writer.quit());
    const store = new SessionStore(
      writer,
      { keyPrefix: PREFIX, recoveryWindowMs: 60_000, refreshMs: 30_000 },
      { metrics: createMetrics({ instanceId: 't', transport: 'uws' }), log: createLogger('t', () => {}) },
    );
    const sockets = Array.from({ length: 50 }, (_, n) => socket(n));
    const leaving = socket(50);
    for (const s of [...sockets, leaving]) store.track(s);
    await store.save(leaving); // resolves with the batch every track joined
    assert.equal(await redis.client.exists(`${PREFIX}pid-50`), 1);

    // Redis holds every write back for a while, and still answers reads.
    await redis.client.sendCommand(['CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE']);
    leaving.emit('disconnect'); // a delete, sent at once
    for (const s of sockets) {
      s.rooms.add('lobby');
      void store.save(s); // saves, waiting in the batch
    }
    await store.flush();

    const stored = await Promise.all(sockets.map((_, n) => redis.client.get(`${PREFIX}pid-${n}`)));
    assert.deepEqual(
      stored.map((raw) => (raw ? (JSON.parse(raw) as { rooms: string[] }).rooms.includes('lobby') : false)),
      sockets.map(() => true),
      'every save recorded before flush is in Redis when it resolves',
    );
    assert.equal(await redis.client.exists(`${PREFIX}pid-50`), 0, 'the delete sent before flush is done');
  });
});
