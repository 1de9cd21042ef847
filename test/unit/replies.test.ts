// What a backend answers, checked field by field (src/upstream/protocol.ts), and the work-queue replies
// routed to the call waiting for them (src/upstream/replies.ts) through a fake Redis client whose
// subscriber the test publishes on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RedisClient } from '../../src/cluster/redis.js';
import { ErrorCodes, RelayError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseReply, safeHeaders } from '../../src/upstream/protocol.js';
import { createReplyRouter } from '../../src/upstream/replies.js';

/** Asserts that `fn` throws RLY_ERR_UPSTREAM_INVALID with a message matching `message`. */
function invalid(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RelayError, String(err));
    assert.equal(err.code, ErrorCodes.UPSTREAM_INVALID);
    assert.match(err.message, message);
    return true;
  });
}

describe('backend reply parsing', () => {
  test('an empty answer is an empty reply; every field is kept, emits as args, { $binary } as bytes', () => {
    for (const empty of [undefined, null, '']) assert.deepEqual(parseReply(empty), {});
    const full = {
      accept: true,
      allow: true,
      error: { code: 'APP_DENIED', message: 'no' },
      data: { role: 'admin', nested: [1, { x: null }] },
      userId: 'alice',
      join: ['a', 'b'],
      leave: ['c'],
      emit: [
        { room: 'r', event: 'e', data: 1 },
        { event: 'to-self', data: { $binary: 'AAE=' } },
        { event: 'many', args: [1, { $binary: 'Ag==' }, 'three'] },
      ],
      ack: [{ ok: true }, { $binary: 'AwQ=' }],
      disconnect: false,
    };
    assert.deepEqual(parseReply(full), {
      ...full,
      emit: [
        { room: 'r', event: 'e', args: [1] },
        { event: 'to-self', args: [Buffer.from([0, 1])] },
        { event: 'many', args: [1, Buffer.from([2]), 'three'] },
      ],
      ack: [{ ok: true }, Buffer.from([3, 4])],
    });
  });

  test('unknown fields are dropped; an emit keeps only room, event and its arguments', () => {
    assert.deepEqual(parseReply({ ack: [], extra: 1 }), { ack: [] });
    assert.deepEqual(parseReply({ emit: [{ event: 'e', data: 1, nsp: '/x' }] }), {
      emit: [{ event: 'e', args: [1] }],
    });
    invalid(() => parseReply({ emit: [{ event: 'e', data: 1, args: [1] }] }), /either data or args/);
    invalid(() => parseReply({ emit: [{ event: 'e', args: 'x' }] }), /either data or args/);
  });

  test('each wrong shape is refused with RLY_ERR_UPSTREAM_INVALID naming the field', () => {
    invalid(() => parseReply('ok'), /not a JSON object/);
    invalid(() => parseReply([{ ack: [] }]), /not a JSON object/);
    invalid(() => parseReply({ accept: 'yes' }), /accept must be a boolean/);
    invalid(() => parseReply({ error: 'denied' }), /error must be \{ code, message \}/);
    invalid(() => parseReply({ error: { code: 1, message: 'm' } }), /error must be/);
    invalid(() => parseReply({ error: null }), /error must be/);
    invalid(() => parseReply({ join: 'room' }), /join must be a list of room names/);
    invalid(() => parseReply({ join: ['ok', ''] }), /join must be a list of room names/);
    invalid(() => parseReply({ leave: [3] }), /leave must be a list of room names/);
    invalid(() => parseReply({ emit: { event: 'e' } }), /emit must be a list/);
    invalid(() => parseReply({ emit: [{ data: 1 }] }), /each emit needs an event name/);
    invalid(() => parseReply({ emit: [{ event: '' }] }), /each emit needs an event name/);
    invalid(() => parseReply({ emit: [null] }), /each emit needs an event name/);
    invalid(() => parseReply({ emit: [{ event: 'e', room: '' }] }), /emit room must be a non-empty string/);
    invalid(() => parseReply({ ack: { ok: true } }), /ack must be the list/);
    invalid(() => parseReply({ disconnect: 1 }), /disconnect must be a boolean/);
    invalid(() => parseReply({ allow: 'yes' }), /allow must be a boolean/);
    for (const userId of ['', 7, 'x'.repeat(252), null]) {
      invalid(() => parseReply({ userId }), /userId must be a string of 1 to 251 characters/);
    }
  });

  test('a backend sees identifying headers only, never cookies or credentials', () => {
    assert.deepEqual(
      safeHeaders({
        'user-agent': 'ua',
        origin: 'https://app.example',
        'x-forwarded-for': ['10.0.0.1', '10.0.0.2'],
        cookie: 'session=secret',
        authorization: 'Bearer secret',
        'sec-websocket-key': 'k',
        host: undefined,
      }),
      { 'user-agent': 'ua', origin: 'https://app.example', 'x-forwarded-for': '10.0.0.1, 10.0.0.2' },
    );
  });
});

/** A node-redis client whose duplicate() is a subscriber the test publishes on. */
function fakeRedis() {
  const listeners = new Map<string, (message: string) => void>();
  const subscriber = {
    isOpen: false,
    on: () => subscriber,
    connect: async () => {
      subscriber.isOpen = true;
    },
    subscribe: async (channel: string, listener: (message: string) => void) => {
      listeners.set(channel, listener);
    },
    close: async () => {
      subscriber.isOpen = false;
      listeners.clear();
    },
  };
  const client = { duplicate: () => subscriber } as unknown as RedisClient;
  const publish = (channel: string, message: string) => listeners.get(channel)?.(message);
  return { client, subscriber, listeners, publish };
}

describe('work-queue reply router', () => {
  const setup = async () => {
    const redis = fakeRedis();
    const router = createReplyRouter(redis.client, 'relay:reply:A/1', {
      metrics: createMetrics({ instanceId: 't', transport: 'uws' }),
    });
    await new Promise((resolve) => setImmediate(resolve)); // subscribed
    return { redis, router };
  };

  test("each reply reaches the call that waits for its id, parsed; others' replies and garbage are ignored", async () => {
    const { redis, router } = await setup();
    assert.deepEqual([...redis.listeners.keys()], ['relay:reply:A/1'], 'subscribed to its own channel');
    const first = router.expect('job-1', 5_000);
    const second = router.expect('job-2', 5_000);
    redis.publish('relay:reply:A/1', 'not json');
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'someone-else', reply: { ack: [0] } }));
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'job-2', reply: { ack: [2], extra: true } }));
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'job-1', reply: { ack: [1] } }));
    assert.deepEqual(await second, { ack: [2] });
    assert.deepEqual(await first, { ack: [1] });
    await router.close();
    assert.equal(redis.subscriber.isOpen, false, 'close closes the subscriber connection');
  });

  test('a reply of the wrong shape rejects its call with RLY_ERR_UPSTREAM_INVALID', async () => {
    const { redis, router } = await setup();
    const call = router.expect('job-1', 5_000);
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'job-1', reply: { join: 'lobby' } }));
    await assert.rejects(call, { code: ErrorCodes.UPSTREAM_INVALID });
    await router.close();
  });

  test('no reply within the timeout rejects with RLY_ERR_UPSTREAM_TIMEOUT; a late reply is then ignored', async (t) => {
    const { redis, router } = await setup();
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const call = router.expect('job-1', 2_000);
    t.mock.timers.tick(2_000);
    await assert.rejects(call, (err: RelayError) => {
      assert.equal(err.code, ErrorCodes.UPSTREAM_TIMEOUT);
      assert.match(err.message, /within 2000 ms/);
      return true;
    });
    // Nothing waits any more: the late reply finds no one, and throws nowhere.
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'job-1', reply: { ack: [1] } }));
    await router.close();
  });

  test('a cancelled call is forgotten: its reply, when it comes, resolves nothing', async () => {
    const { redis, router } = await setup();
    let outcome = 'pending';
    router.expect('job-1', 5_000).then(
      () => {
        outcome = 'resolved';
      },
      () => {
        outcome = 'rejected';
      },
    );
    router.cancel('job-1');
    redis.publish('relay:reply:A/1', JSON.stringify({ id: 'job-1', reply: { ack: [1] } }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(outcome, 'pending');
    await router.close();
  });
});
