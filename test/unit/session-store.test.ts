// The session store's batching, against a fake Redis client that records the commands it is sent and
// answers when the test says so: saves coalesce into one SET per socket per batch, a save resolves only
// once its SET is answered, a clean disconnect keeps the session for the window and a deliberate one
// deletes it, flush sends a waiting batch at once. test/component/session-store.test.ts runs it against a
// real Redis.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import type { Socket } from 'socket.io';
import type { RedisClient } from '../../src/cluster/redis.js';
import { SessionStore } from '../../src/cluster/session-store.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';

const WINDOW_MS = 60_000;
const REFRESH_MS = 30_000;

interface Command {
  name: 'set' | 'del' | 'get';
  key: string;
  value?: string;
  px?: number;
  /** Answers the command: with an error to fail it. */
  answer(error?: Error): void;
}

/** The part of a node-redis client the store uses; every command waits for the test to answer it. */
function fakeRedis(stored: Record<string, string> = {}) {
  const commands: Command[] = [];
  const record = (name: Command['name'], key: string, value?: string, px?: number) =>
    new Promise<unknown>((resolve, reject) => {
      commands.push({
        name,
        key,
        ...(value === undefined ? {} : { value }),
        ...(px === undefined ? {} : { px }),
        answer: (error) => (error ? reject(error) : resolve(name === 'get' ? (stored[key] ?? null) : 'OK')),
      });
    });
  const client = {
    isReady: true,
    set: (key: string, value: string, opts: { PX: number }) => record('set', key, value, opts.PX),
    del: (key: string) => record('del', key),
    get: (key: string) => record('get', key),
  };
  return {
    client,
    commands,
    /** Answers every command not answered yet. */
    answerAll(error?: Error) {
      for (const command of commands.splice(0)) command.answer(error);
    },
  };
}

/** What the store reads of a Socket.IO socket with connection state recovery. */
function fakeSocket(n: number, opts: { recoverable: boolean } = { recoverable: true }) {
  return Object.assign(new EventEmitter(), {
    id: `sid-${n}`,
    pid: opts.recoverable ? `pid-${n}` : undefined,
    rooms: new Set([`sid-${n}`]),
    data: { n },
    nsp: { name: '/app' },
  });
}
const asSocket = (s: ReturnType<typeof fakeSocket>) => s as unknown as Socket;

function setup() {
  const redis = fakeRedis({ 'test:session:kept': JSON.stringify({ sid: 's', pid: 'kept', rooms: ['r'] }) });
  const metrics = createMetrics({ instanceId: 't', transport: 'uws' });
  const logs: string[] = [];
  const store = new SessionStore(
    redis.client as unknown as RedisClient,
    { keyPrefix: 'test:session:', recoveryWindowMs: WINDOW_MS, refreshMs: REFRESH_MS },
    { metrics, log: createLogger('t', (line) => logs.push(line)) },
  );
  return { redis, metrics, logs, store };
}

/** Resolves on the next macrotask after `ms`: past the store's 5 ms coalescing. */
const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True once `promise` has settled (checked after pending microtasks ran). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

async function counted(counter: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> }) {
  return Object.fromEntries(
    (await counter.get()).values.map((v) => [Object.values(v.labels).join(','), v.value]),
  );
}

describe('session store batching', () => {
  test('saves within the coalescing window become one SET per socket, resolved once Redis answers', async () => {
    const { redis, store, metrics } = setup();
    const [a, b] = [fakeSocket(1), fakeSocket(2)];
    store.track(asSocket(a));
    store.track(asSocket(b));
    a.rooms.add('lobby');
    const saved = store.save(asSocket(a));
    void store.save(asSocket(a));
    void store.save(asSocket(b));
    assert.equal(redis.commands.length, 0, 'nothing is sent before the batch closes');

    await after(20);
    assert.deepEqual(
      redis.commands.map((c) => [c.name, c.key, c.px]),
      [
        ['set', 'test:session:pid-1', WINDOW_MS + REFRESH_MS],
        ['set', 'test:session:pid-2', WINDOW_MS + REFRESH_MS],
      ],
      'one SET per socket, living for the window plus one refresh period',
    );
    assert.deepEqual(JSON.parse(redis.commands[0]?.value as string), {
      sid: 'sid-1',
      pid: 'pid-1',
      rooms: ['sid-1', 'lobby'],
      data: { n: 1 },
      nsp: '/app',
    });
    assert.equal(await settled(saved), false, 'a save waits for its SET to be answered');
    redis.answerAll();
    await saved;
    assert.deepEqual(await counted(metrics.sessionWrites), { save: 2 });
    assert.equal(store.size, 2);
  });

  test('a change after a batch was sent goes into the next batch', async () => {
    const { redis, store } = setup();
    const a = fakeSocket(1);
    store.track(asSocket(a));
    await after(20);
    redis.answerAll();
    a.rooms.add('later');
    void store.save(asSocket(a));
    await after(20);
    assert.deepEqual(
      redis.commands.map((c) => JSON.parse(c.value as string).rooms),
      [['sid-1', 'later']],
    );
  });

  test('without a private id (recovery off) a socket is neither tracked nor written', async () => {
    const { redis, store } = setup();
    const socket = fakeSocket(1, { recoverable: false });
    store.track(asSocket(socket));
    await store.save(asSocket(socket));
    socket.emit('disconnect');
    await after(20);
    assert.deepEqual(redis.commands, []);
    assert.equal(store.size, 0);
  });

  test('a deliberate disconnect deletes the session; one Socket.IO persisted is kept for the window only', async () => {
    const { redis, store, metrics } = setup();
    const [leaving, dropped] = [fakeSocket(1), fakeSocket(2)];
    store.track(asSocket(leaving));
    store.track(asSocket(dropped));
    await after(20);
    redis.answerAll();

    leaving.emit('disconnect');
    // Socket.IO's clean-disconnect hook runs before the socket's own disconnect event.
    store.persist({ sid: 'sid-2', pid: 'pid-2', rooms: ['sid-2', 'r'], data: { n: 2 }, nsp: '/app' });
    dropped.emit('disconnect');
    await after(20);
    assert.deepEqual(
      redis.commands.map((c) => [c.name, c.key, c.px]),
      [
        ['del', 'test:session:pid-1', undefined],
        ['set', 'test:session:pid-2', WINDOW_MS],
      ],
      'the persisted session is not deleted by its disconnect, and is not refreshed past the window',
    );
    assert.equal(store.size, 0);
    redis.answerAll();
    await store.flush();
    assert.deepEqual(await counted(metrics.sessionWrites), { save: 2, delete: 1, persist: 1 });
  });

  test('flush sends a waiting batch at once and resolves only when every write is answered', async () => {
    const { redis, store } = setup();
    const a = fakeSocket(1);
    store.track(asSocket(a));
    const flushed = store.flush();
    assert.deepEqual(
      redis.commands.map((c) => c.name),
      ['set'],
      'sent without waiting for the coalescing timer',
    );
    assert.equal(await settled(flushed), false);
    redis.answerAll();
    assert.equal(await settled(flushed), true);
  });

  test('a failed write is counted, and logged while the connection is up (silent while Redis is away)', async () => {
    const { redis, store, metrics, logs } = setup();
    store.track(asSocket(fakeSocket(1)));
    await after(20);
    redis.answerAll(new Error('OOM command not allowed'));
    await store.flush();
    redis.client.isReady = false;
    store.track(asSocket(fakeSocket(2)));
    await after(20);
    redis.answerAll(new Error('The client is closed'));
    await store.flush();
    assert.deepEqual(await counted(metrics.redisErrors), { sessions: 2 });
    assert.equal(logs.length, 1);
    const line = JSON.parse(logs[0] as string);
    assert.equal(line.msg, 'session write failed');
    assert.equal(line.code, 'RLY_ERR_CLUSTER');
    assert.equal(line.error, 'OOM command not allowed');
  });

  test('resync and the periodic refresh rewrite every live session in one batch', async (t) => {
    const { redis, store } = setup();
    for (const n of [1, 2, 3]) store.track(asSocket(fakeSocket(n)));
    await after(20);
    redis.answerAll();

    store.resync();
    await after(20);
    assert.deepEqual(
      redis.commands.splice(0).map((c) => c.key),
      ['test:session:pid-1', 'test:session:pid-2', 'test:session:pid-3'],
    );

    t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
    store.start();
    t.after(() => store.stop());
    t.mock.timers.tick(REFRESH_MS);
    t.mock.timers.tick(5);
    assert.equal(redis.commands.length, 3, 'every live session, once per refresh period');
  });

  test('get reads a session without taking it', async () => {
    const { redis, store } = setup();
    const got = store.get('kept');
    const missing = store.get('gone');
    assert.deepEqual(
      redis.commands.map((c) => [c.name, c.key]),
      [
        ['get', 'test:session:kept'],
        ['get', 'test:session:gone'],
      ],
    );
    redis.answerAll();
    assert.deepEqual(await got, { sid: 's', pid: 'kept', rooms: ['r'] });
    assert.equal(await missing, undefined);
  });
});
