// Users and per-user permissions against real relays and a real Redis: every socket of a user is in
// `user:<id>` on every instance, placeholders in room patterns, recovered sockets re-checked against a
// narrowed policy, `--jwt-user-claim`, and backends that set the user and authorize joins.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { createBackend } from '../../src/backend/index.js';
import { createEmitter } from '../../src/emitter/index.js';
import { adminPublish } from '../helpers/admin.js';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { startFunctionServer } from '../helpers/function-server.js';
import { freePort } from '../helpers/ports.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const SECRET = 'users-test-secret-0123456789';
const FUNCTION_SECRET = 'function-secret-0123456789';

function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

async function as(url: string, claims: Record<string, unknown>, transports = ['websocket']): Promise<Socket> {
  return client(url, { auth: { token: await token(claims) }, transports });
}

const forbidden = { ok: false, error: { code: 'RLY_ERR_FORBIDDEN' } };
/** The ack's `ok` and error code (messages are for people). */
async function outcome(socket: Socket, event: string, ...args: unknown[]) {
  const ack = await ask<{ ok: boolean; error?: { code: string } }>(socket, event, ...args);
  return ack.ok ? { ok: true } : { ok: false, error: { code: ack.error?.code } };
}

async function postPublish(relay: RelayProcess, body: Record<string, unknown>) {
  const res = await fetch(`${relay.adminUrl}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
}

/** `GET /v1/rooms/:room/sockets`: the room's socket ids, cluster-wide. */
async function roomSockets(relay: RelayProcess, room: string, namespace = '/'): Promise<string[]> {
  const res = await fetch(
    `${relay.adminUrl}/v1/rooms/${encodeURIComponent(room)}/sockets?namespace=${namespace}`,
  );
  assert.equal(res.status, 200);
  return ((await res.json()) as { sockets: string[] }).sockets;
}

const POLICY = {
  '/': {
    join: ['user:{userId}', 'team:{claims.team}/*', 'lobby'],
    publish: ['user:*', 'team:{claims.team}/*'],
  },
  // Patterns that allow every room still do not open another user's room.
  '/open': { join: ['*'], publish: ['*'] },
};

for (const transport of ['uws', 'ws'] as const) {
  describe(`users across two instances (${transport})`, () => {
    let redis: RedisServer | undefined;
    let a: RelayProcess;
    let b: RelayProcess;
    before(async () => {
      if (!toolAvailable('redis-server')) return;
      redis = await startRedis();
      const common = [
        ...['--redis-url', redis.url, '--transport', transport, '--jwt-secret', SECRET],
        ...['--config', writeConfig({ namespaces: POLICY })],
      ];
      [a, b] = await Promise.all([
        startRelay([...common, '--instance-id', 'A']),
        startRelay([...common, '--instance-id', 'B']),
      ]);
    });
    after(async () => {
      closeClients();
      await a?.stop('SIGKILL');
      await b?.stop('SIGKILL');
      await redis?.stop();
    });

    test("a publish to user:alice reaches each of alice's sockets on both instances exactly once", async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const alice = [
        await as(a.url, { sub: 'alice' }),
        await as(a.url, { sub: 'alice' }, ['polling']),
        await as(b.url, { sub: 'alice' }),
      ];
      const bob = await as(b.url, { sub: 'bob' });
      const notes = alice.map((socket) => collect<{ n: number }>(socket, 'note'));
      const atBob = collect(bob, 'note');
      assert.equal((await ask(alice[2] as Socket, 'whoami')).userId, 'alice');

      assert.deepEqual(
        await roomSockets(a, 'user:alice'),
        alice.map((s) => s.id).sort(),
        'user:alice holds her three sockets',
      );

      assert.deepEqual(await outcome(bob, 'publish', { room: 'user:alice', event: 'note', data: { n: 1 } }), {
        ok: true,
      });
      await adminPublish(b, { user: 'alice', event: 'note', data: { n: 2 } });
      // Last in the stream: once it is in, anything sent twice would have arrived before it.
      await adminPublish(a, { user: 'alice', event: 'note', data: { n: 3 } });
      for (const [i, list] of notes.entries()) {
        await received(`notes at alice's socket ${i}`, list, 3);
        assert.deepEqual(list, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      }
      assert.deepEqual(atBob, [], 'bob is not in user:alice');
    });

    test("no client joins another user's room, whatever the patterns; its own it cannot leave", async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const bob = await as(b.url, { sub: 'bob' });
      assert.deepEqual(await outcome(bob, 'join', 'user:alice'), forbidden);
      const bobOpen = await client(`${b.url}/open`, { auth: { token: await token({ sub: 'bob' }) } });
      assert.deepEqual(await outcome(bobOpen, 'join', 'user:alice'), forbidden, 'not even with join ["*"]');
      assert.deepEqual(await outcome(bobOpen, 'join', 'anything'), { ok: true });
      // Already in it: an allowed join of one's own user room changes nothing; leaving it is refused.
      assert.deepEqual(await outcome(bob, 'join', 'user:bob'), { ok: true });
      assert.deepEqual(await outcome(bob, 'leave', 'user:bob'), {
        ok: false,
        error: { code: 'RLY_ERR_ROOM_RESERVED' },
      });
      assert.deepEqual(
        await roomSockets(b, 'user:bob', '/open'),
        [bobOpen.id],
        'every namespace has its own user rooms',
      );
    });

    test('placeholders: {userId} and {claims.team} match only the socket’s own values', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const alice = await as(a.url, { sub: 'alice', team: 'red' });
      assert.deepEqual(await outcome(alice, 'join', 'user:alice'), { ok: true });
      assert.deepEqual(await outcome(alice, 'join', 'user:bob'), forbidden);
      assert.deepEqual(await outcome(alice, 'join', 'team:red/x'), { ok: true });
      assert.deepEqual(await outcome(alice, 'join', 'team:blue/x'), forbidden);
      assert.deepEqual(await outcome(alice, 'publish', { room: 'team:red/x', event: 'e', data: 1 }), {
        ok: true,
      });
      assert.deepEqual(
        await outcome(alice, 'publish', { room: 'team:blue/x', event: 'e', data: 1 }),
        forbidden,
      );

      const loner = await as(b.url, { sub: 'dave' });
      for (const room of ['team:red/x', 'team:/x', 'team:undefined/x', 'team:{claims.team}/x']) {
        assert.deepEqual(await outcome(loner, 'join', room), forbidden, `no team claim: ${room}`);
      }
      assert.deepEqual(
        await outcome(loner, 'publish', { room: 'team:red/x', event: 'e', data: 1 }),
        forbidden,
      );
      assert.deepEqual(await outcome(loner, 'join', 'lobby'), { ok: true }, 'plain patterns still apply');
    });

    test('POST /v1/publish takes room or user, not both', async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const both = await postPublish(a, { room: 'lobby', user: 'alice', event: 'e', data: 1 });
      assert.equal(both.status, 400);
      assert.equal(both.body.error?.code, 'RLY_ERR_BAD_REQUEST');
      const empty = await postPublish(a, { user: '', event: 'e', data: 1 });
      assert.equal(empty.status, 400);
    });
  });

  test(`recovery keeps the user room and leaves rooms a narrowed policy no longer allows (${transport})`, async (t) => {
    if (!toolAvailable('redis-server')) return t.skip('redis-server is not installed');
    const redis = await startRedis();
    const wide = writeConfig({ namespaces: { '/': { join: ['old:*', 'keep:*'], publish: [] } } });
    const narrow = writeConfig({ namespaces: { '/': { join: ['keep:*'], publish: [] } } });
    const common = ['--redis-url', redis.url, '--transport', transport, '--jwt-secret', SECRET];
    const port = String(await freePort());
    const a = await startRelay([...common, '--config', narrow, '--instance-id', 'A']);
    let b = await startRelay([...common, '--config', wide, '--instance-id', 'B', '--port', port]);
    t.after(async () => {
      closeClients();
      await a.stop('SIGKILL');
      await b.stop('SIGKILL');
      await redis.stop();
    });

    const alice = await as(b.url, { sub: 'alice' });
    const got = collect<string>(alice, 'm');
    assert.deepEqual(await outcome(alice, 'join', 'old:1'), { ok: true });
    assert.deepEqual(await outcome(alice, 'join', 'keep:1'), { ok: true });
    await adminPublish(a, { user: 'alice', event: 'm', data: 'before' });
    await received('a message before the restart', got, 1);

    assert.equal(await b.stop('SIGTERM'), 0, 'B drains and exits 0');
    await adminPublish(a, { user: 'alice', event: 'm', data: 'missed' });
    b = await startRelay([...common, '--config', narrow, '--instance-id', 'B', '--port', port]);
    await received('the missed message', got, 2);
    assert.equal(alice.recovered, true);
    const me = await ask(alice, 'whoami');
    assert.equal(me.userId, 'alice');
    assert.equal(me.recovered, true);

    // Live, after the recovery: old:1 is no longer allowed, so the socket left it; the others it kept.
    await adminPublish(a, { room: 'old:1', event: 'm', data: 'old' });
    await adminPublish(a, { room: 'keep:1', event: 'm', data: 'keep' });
    await adminPublish(a, { user: 'alice', event: 'm', data: 'user' });
    await received('the live messages', got, 4);
    assert.deepEqual(got, ['before', 'missed', 'keep', 'user']);
    assert.deepEqual(await roomSockets(b, 'old:1'), []);
    assert.deepEqual(await roomSockets(b, 'keep:1'), [alice.id]);
    assert.deepEqual(await roomSockets(b, 'user:alice'), [alice.id]);
  });
}

describe('--jwt-user-claim', () => {
  test('--jwt-user-claim email makes the email claim the user id; a token without it is refused', async (t) => {
    const relay = await startRelay(['--jwt-secret', SECRET, '--jwt-user-claim', 'email']);
    t.after(async () => {
      closeClients();
      await relay.stop('SIGKILL');
    });
    const socket = await as(relay.url, { sub: 'u-1', email: 'alice@example.com' });
    assert.equal((await ask(socket, 'whoami')).userId, 'alice@example.com');
    const got = collect(socket, 'hello');
    await adminPublish(relay, { user: 'alice@example.com', event: 'hello', data: 1 });
    await received('a message to the email user', got, 1);
    await assert.rejects(as(relay.url, { sub: 'u-2' }), (err: Error & { data?: { code?: string } }) => {
      assert.equal(err.data?.code, 'RLY_ERR_AUTH');
      return true;
    });
  });
});

// The backend's user is joined during the handshake, which on uWS touches the WebSocket before Socket.IO's
// own join does: both transports.
for (const transport of ['uws', 'ws'] as const) {
  describe(`an HTTP function sets the user and authorizes joins (${transport})`, () => {
    let fn: Awaited<ReturnType<typeof startFunctionServer>>;
    let relay: RelayProcess;
    before(async () => {
      fn = await startFunctionServer(FUNCTION_SECRET, (call, reply) => {
        if (call.type === 'connect') return reply(200, { userId: call.socket.handshake.auth.user });
        if (call.type === 'join') {
          if (String(call.room).startsWith('ok:')) return reply(200, { allow: true });
          if (String(call.room).startsWith('no:'))
            return reply(200, { error: { code: 'APP_NOPE', message: 'not this one' } });
          return reply(200, { allow: false });
        }
        return reply(200, {});
      });
      const upstream = { http: { url: fn.url, secret: FUNCTION_SECRET }, authorizeJoin: true };
      const config = writeConfig({
        namespaces: { '/app': { join: ['ok:*', 'no:*', 'maybe:*', 'user:*'], upstream } },
      });
      relay = await startRelay(['--config', config, '--transport', transport]);
    });
    after(async () => {
      closeClients();
      await relay?.stop('SIGKILL');
      await fn?.close();
    });

    test("the connect reply's userId is the socket's user, with its room", async () => {
      const erin = await client(relay.url, { auth: { user: 'erin' } }, '/app');
      const erinPolling = await client(
        relay.url,
        { auth: { user: 'erin' }, transports: ['polling'] },
        '/app',
      );
      assert.equal((await ask(erin, 'whoami')).userId, 'erin');
      const got = [collect(erin, 'hi'), collect(erinPolling, 'hi')];
      await adminPublish(relay, { namespace: '/app', user: 'erin', event: 'hi', data: 1 });
      await adminPublish(relay, { namespace: '/app', user: 'erin', event: 'hi', data: 2 });
      for (const list of got) {
        await received('messages to the backend-set user', list, 2);
        assert.deepEqual(list, [1, 2]);
      }
    });

    test('the backend decides each join the patterns allow, and its error code reaches the ack', async () => {
      const erin = await client(relay.url, { auth: { user: 'erin' } }, '/app');
      const joinCalls = () => fn.calls.filter((c) => c.type === 'join' && c.socket.id === erin.id);
      assert.deepEqual(await ask(erin, 'join', 'ok:1'), { ok: true });
      assert.deepEqual(await ask(erin, 'join', 'no:1'), {
        ok: false,
        error: { code: 'APP_NOPE', message: 'not this one' },
      });
      assert.deepEqual(await outcome(erin, 'join', 'maybe:1'), forbidden, 'allow: false refuses');
      assert.deepEqual(
        joinCalls().map((c) => c.room),
        ['ok:1', 'no:1', 'maybe:1'],
      );
      const [first] = joinCalls();
      assert.equal(first?.namespace, '/app');
      assert.equal(first?.socket.data.userId, 'erin');

      // Refused before any call: outside the patterns, and another user's room.
      assert.deepEqual(await outcome(erin, 'join', 'elsewhere'), forbidden);
      assert.deepEqual(await outcome(erin, 'join', 'user:frank'), forbidden);
      assert.equal(joinCalls().length, 3);
      assert.deepEqual(await roomSockets(relay, 'ok:1', '/app'), [erin.id]);
    });
  });
}

describe('a work-queue backend: setUser, onJoin, to({ user })', () => {
  let redis: RedisServer | undefined;
  let relay: RelayProcess;
  let backend: ReturnType<typeof createBackend>;
  before(async () => {
    if (!toolAvailable('redis-server')) return;
    redis = await startRedis();
    const config = writeConfig({
      namespaces: {
        '/q': { join: ['room:*'], upstream: { queue: { timeoutMs: 5000 }, authorizeJoin: true } },
      },
    });
    relay = await startRelay(['--redis-url', redis.url, '--config', config]);
    backend = createBackend({ redisUrl: redis.url, namespace: '/q', group: 'workers' })
      .onConnect((ctx) =>
        ctx.setUser(String((ctx.socket.handshake?.auth as { user?: string } | undefined)?.user)),
      )
      .onJoin((room) => {
        if (room === 'room:vip') throw Object.assign(new Error('members only'), { code: 'APP_VIP' });
        return room !== 'room:closed';
      })
      .handle('dm', (data, ctx) => {
        ctx.to({ user: (data as { to: string }).to }).emit('dm', { from: ctx.socket.data });
        return { ok: true };
      });
    await backend.start();
  });
  after(async () => {
    closeClients();
    await backend?.close();
    await relay?.stop('SIGKILL');
    await redis?.stop();
  });

  test('users, joins and messages to a user through the SDK and the emitter', async (t) => {
    if (!redis) return t.skip('redis-server is not installed');
    const gina = await client(relay.url, { auth: { user: 'gina' } }, '/q');
    const gina2 = await client(relay.url, { auth: { user: 'gina' }, transports: ['polling'] }, '/q');
    const hal = await client(relay.url, { auth: { user: 'hal' } }, '/q');
    assert.equal((await ask(gina, 'whoami')).userId, 'gina');
    assert.deepEqual(await ask(hal, 'join', 'room:open'), { ok: true });
    assert.deepEqual(await ask(hal, 'join', 'room:vip'), {
      ok: false,
      error: { code: 'APP_VIP', message: 'members only' },
    });
    assert.deepEqual(await outcome(hal, 'join', 'room:closed'), forbidden);

    const dms = [collect(gina, 'dm'), collect(gina2, 'dm')];
    assert.deepEqual(await ask(hal, 'dm', { to: 'gina' }), { ok: true });
    const emitter = createEmitter({ redisUrl: (redis as RedisServer).url });
    t.after(() => emitter.close());
    await emitter.of('/q').to({ user: 'gina' }).emit('dm', { from: 'emitter' });
    for (const list of dms) {
      await received("gina's direct messages", list, 2);
      assert.deepEqual(list, [{ from: { userId: 'hal' } }, { from: 'emitter' }]);
    }
  });
});
