// Hostile input: JWT authentication, rate limit, payload cap on both transports, connection cap, room cap,
// origin allowlist. Every refusal carries a code; the relay keeps serving everyone else.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { startFunctionServer } from '../helpers/function-server.js';
import { waitFor } from '../helpers/processes.js';
import { RawPolling, RawWebSocket } from '../helpers/raw-eio.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { startRelay, writeConfig } from '../helpers/relay.js';

type Refusal = Error & { data?: { code: string } };
type ErrorReply = { ok: false; error: { code: string; message: string } };
type ErrorData = { message: string; data: { code: string } };
const SECRET = 'a-test-secret-of-some-length';

after(() => closeClients());

async function refused(url: string, opts: Record<string, unknown>): Promise<Refusal> {
  try {
    await client(url, { reconnection: false, ...opts });
  } catch (err) {
    return err as Refusal;
  }
  assert.fail('the connection was expected to be refused');
}

function hs256(claims: Record<string, unknown>, secret = SECRET, expiresIn: string | number = '1h') {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

describe('JWT authentication', () => {
  test('HS256: missing, malformed, wrongly signed and expired tokens are refused with RLY_ERR_AUTH', async (t) => {
    const relay = await startRelay(['--jwt-secret', SECRET]);
    t.after(() => relay.stop('SIGKILL'));
    const cases: Array<[unknown, string]> = [
      [undefined, 'auth.token is required'],
      ['not-a-jwt', 'auth.token is not a valid JWT'],
      [await hs256({ sub: 'mallory' }, 'another-secret-entirely'), 'auth.token signature is not valid'],
      [await hs256({ sub: 'late' }, SECRET, Math.floor(Date.now() / 1000) - 60), 'auth.token has expired'],
      [
        await hs256({}),
        'auth.token lacks its user claim or exp, has another audience or issuer, or is not valid yet',
      ],
    ];
    for (const [token, message] of cases) {
      const err = await refused(relay.url, { auth: token === undefined ? {} : { token } });
      assert.equal(err.data?.code, 'RLY_ERR_AUTH', String(token));
      assert.equal(err.message, message);
      assert.ok(!err.message.includes(SECRET));
    }
    const socket = await client(relay.url, { auth: { token: await hs256({ sub: 'alice' }) } });
    assert.equal((await ask(socket, 'whoami')).userId, 'alice');
  });

  test('a token that expires while connected ends the connection with a coded reason', async (t) => {
    const relay = await startRelay(['--jwt-secret', SECRET]);
    t.after(() => relay.stop('SIGKILL'));
    const exp = Math.floor(Date.now() / 1000) + 2;
    const socket = await client(relay.url, { auth: { token: await hs256({ sub: 'brief' }, SECRET, exp) } });
    const notices = collect<{ code: string }>(socket, 'relay:disconnect');
    const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve));
    assert.equal(reason, 'io server disconnect');
    assert.deepEqual(notices, [{ code: 'RLY_ERR_AUTH', message: 'auth.token has expired' }]);
  });

  test('tokens without exp, or for another audience or issuer, are refused', async (t) => {
    const relay = await startRelay([
      '--jwt-secret',
      SECRET,
      '--jwt-audience',
      'relay',
      '--jwt-issuer',
      'https://id.example/',
    ]);
    t.after(() => relay.stop('SIGKILL'));
    const sign = (claims: Record<string, unknown>, exp: boolean) => {
      const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
      return (exp ? jwt.setExpirationTime('1h') : jwt).sign(new TextEncoder().encode(SECRET));
    };
    const good = { sub: 'carol', aud: 'relay', iss: 'https://id.example/' };
    for (const [what, token] of [
      ['no exp', await sign(good, false)],
      ['another audience', await sign({ ...good, aud: 'other' }, true)],
      ['another issuer', await sign({ ...good, iss: 'https://evil.example/' }, true)],
      ['no audience', await sign({ sub: 'carol', iss: good.iss }, true)],
    ] as const) {
      const err = await refused(relay.url, { auth: { token } });
      assert.equal(err.data?.code, 'RLY_ERR_AUTH', what);
    }
    const ok = await client(relay.url, { auth: { token: await sign(good, true) } });
    assert.equal(((await ask(ok, 'whoami')) as { userId: string }).userId, 'carol');
  });

  for (const mode of ['single-node', 'cluster'] as const) {
    test(`a session whose token expired while its client was away is not restored (${mode})`, async (t) => {
      const redis = mode === 'cluster' ? await startRedis() : undefined;
      const relay = await startRelay(['--jwt-secret', SECRET, ...(redis ? ['--redis-url', redis.url] : [])]);
      t.after(async () => {
        await relay.stop('SIGKILL');
        await redis?.stop();
      });
      const expiresAt = Math.floor(Date.now() / 1000) + 2;
      const token = await hs256({ sub: 'dave' }, SECRET, expiresAt);
      const first = await RawWebSocket.open(relay.url);
      first.send(`40${JSON.stringify({ token })}`);
      const connect = await waitFor('the CONNECT', () => first.frames.find((f) => f.startsWith('40{')));
      const { pid } = JSON.parse(connect.slice(2)) as { pid: string };
      assert.deepEqual(await first.ask('join', 'news'), { ok: true });
      assert.deepEqual(await first.ask('publish', { room: 'news', event: 'news', data: { n: 0 } }), {
        ok: true,
      });
      const event = await waitFor('an offset', () => first.frames.find((f) => f.startsWith('42["news"')));
      const offset = (JSON.parse(event.slice(2)) as unknown[])[2] as string;
      first.close();
      // The token expires while the client is away; then something is published to its room.
      await waitFor('the token to expire', () => Date.now() > expiresAt * 1000 + 100, 5000);
      const publisher = await client(relay.url, { auth: { token: await hs256({ sub: 'erin' }) } });
      assert.deepEqual(await ask(publisher, 'publish', { room: 'news', event: 'news', data: { n: 1 } }), {
        ok: true,
      });

      const back = await RawWebSocket.open(relay.url);
      back.send(`40${JSON.stringify({ token, pid, offset })}`);
      const refusal = await waitFor('the refusal', () => back.frames.find((f) => f.startsWith('44')));
      assert.equal((JSON.parse(refusal.slice(2)) as { data: { code: string } }).data.code, 'RLY_ERR_AUTH');
      assert.equal(back.frames.filter((f) => f.startsWith('42')).length, 0, 'nothing was replayed');
      back.close();
    });
  }

  test('backends get the verified claims, never the token', async (t) => {
    const fn = await startFunctionServer(SECRET, (_call, reply) => reply(200, { ack: [{ ok: true }] }));
    const config = writeConfig({
      namespaces: { '/': { upstream: { http: { url: fn.url, secret: SECRET } } } },
    });
    const relay = await startRelay(['--jwt-secret', SECRET, '--config', config]);
    t.after(async () => {
      await relay.stop('SIGKILL');
      await fn.close();
    });
    const token = await hs256({ sub: 'alice', team: 'blue' });
    const socket = await client(relay.url, { auth: { token, note: 'kept' } });
    assert.deepEqual(await ask(socket, 'custom'), { ok: true });
    const calls = fn.calls.filter((c) => c.type === 'connect' || c.type === 'event');
    assert.equal(calls.length, 2);
    for (const call of calls) {
      assert.ok(!JSON.stringify(call).includes(token), `${call.type}: the token reached the backend`);
      assert.equal(call.socket.claims.sub, 'alice');
      assert.equal(call.socket.claims.team, 'blue');
      assert.deepEqual(call.socket.handshake.auth, { note: 'kept' });
    }
  });

  test('RS256 through a JWKS URL', async (t) => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    t.after(() => jwks.close());
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const relay = await startRelay(['--jwt-jwks-url', url]);
    t.after(() => relay.stop('SIGKILL'));
    const sign = (key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT({ sub: 'bob' })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setExpirationTime('1h')
        .sign(key);
    const err = await refused(relay.url, { auth: { token: await sign(other.privateKey) } });
    assert.equal(err.data?.code, 'RLY_ERR_AUTH');
    const socket = await client(relay.url, { auth: { token: await sign(privateKey) } });
    assert.equal((await ask(socket, 'whoami')).userId, 'bob');
  });
});

describe('limits', () => {
  test('--rate-limit: refused events get RLY_ERR_RATE_LIMITED; sustained abuse is disconnected', async (t) => {
    const relay = await startRelay(['--rate-limit', '5']);
    t.after(() => relay.stop('SIGKILL'));
    const polite = await client(relay.url);
    const abuser = await client(relay.url);
    const replies = await Promise.all(
      Array.from({ length: 30 }, () => ask<ErrorReply | { ok: true }>(abuser, 'whoami')),
    );
    const limited = replies.filter((r) => !r.ok) as ErrorReply[];
    assert.ok(
      limited.length >= 15 && limited.length <= 20,
      `${limited.length} of 30 refused (burst allows 10)`,
    );
    assert.equal(limited[0]?.error.code, 'RLY_ERR_RATE_LIMITED');
    const notices = collect<{ code: string }>(abuser, 'relay:disconnect');
    const gone = new Promise<string>((resolve) => abuser.once('disconnect', resolve));
    const flood = setInterval(() => abuser.emit('whoami', () => {}), 5);
    t.after(() => clearInterval(flood));
    assert.equal(await gone, 'io server disconnect');
    clearInterval(flood);
    assert.equal(notices[0]?.code, 'RLY_ERR_RATE_LIMITED');
    assert.equal((await ask(polite, 'whoami')).ok, true, 'others are untouched');
  });

  test("one client's unencodable events get error acks and do not open the backend's circuit for others", async (t) => {
    const fn = await startFunctionServer(SECRET, (_call, reply) => reply(200, { ack: [{ ok: true }] }));
    const config = writeConfig({
      namespaces: { '/': { upstream: { http: { url: fn.url, secret: SECRET } } } },
    });
    const relay = await startRelay(['--config', config]);
    t.after(async () => {
      await relay.stop('SIGKILL');
      await fn.close();
    });
    const attacker = await RawWebSocket.open(relay.url);
    await attacker.connect();
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (let id = 1; id <= 5; id++) {
      attacker.send(`42${id}["custom",${deep}]`);
      const ack = await waitFor(`ack ${id}`, () => attacker.frames.find((f) => f.startsWith(`43${id}[`)));
      assert.equal(
        (JSON.parse(ack.slice(`43${id}`.length)) as [ErrorReply])[0].error.code,
        'RLY_ERR_BAD_REQUEST',
      );
    }
    assert.equal(fn.calls.filter((c) => c.type === 'event').length, 0, 'none reached the function');
    const other = await client(relay.url);
    assert.deepEqual(await ask(other, 'custom'), { ok: true });
    attacker.close();
  });

  test('--rate-limit applies before the backend: refused events never reach the function', async (t) => {
    const fn = await startFunctionServer(SECRET, (_call, reply) => reply(200, { ack: [{ ok: true }] }));
    const config = writeConfig({
      namespaces: { '/': { upstream: { http: { url: fn.url, secret: SECRET } } } },
    });
    const relay = await startRelay(['--rate-limit', '5', '--config', config]);
    t.after(async () => {
      await relay.stop('SIGKILL');
      await fn.close();
    });
    const sender = await client(relay.url);
    const replies = await Promise.all(
      Array.from({ length: 30 }, () => ask<ErrorReply | { ok: true }>(sender, 'custom')),
    );
    const limited = replies.filter((r) => !r.ok) as ErrorReply[];
    assert.ok(limited.length >= 15, `${limited.length} of 30 refused (burst allows 10)`);
    assert.ok(limited.every((r) => r.error.code === 'RLY_ERR_RATE_LIMITED'));
    const forwarded = fn.calls.filter((c) => c.event === 'custom').length;
    assert.equal(forwarded, 30 - limited.length, 'only the events let through reached the function');
  });

  for (const transport of ['uws', 'ws'] as const) {
    for (const clientTransport of ['websocket', 'polling'] as const) {
      test(`--max-payload closes a ${clientTransport} client that sends more (${transport})`, async (t) => {
        const relay = await startRelay(['--transport', transport, '--max-payload', '4096']);
        t.after(() => relay.stop('SIGKILL'));
        const bystander = await client(relay.url);
        const sender = await client(relay.url, { transports: [clientTransport], reconnection: false });
        await ask(sender, 'join', 'r');
        await ask(bystander, 'join', 'r');
        const got = collect(bystander, 'big');
        assert.deepEqual(await ask(sender, 'publish', { room: 'r', event: 'big', data: 'x'.repeat(3000) }), {
          ok: true,
        });
        const gone = new Promise<string>((resolve) => sender.once('disconnect', resolve));
        sender.emit('publish', { room: 'r', event: 'big', data: 'x'.repeat(10_000) });
        assert.match(await gone, /^transport (close|error)$/);
        await received('the message under the cap', got, 1);
        assert.equal((await ask(bystander, 'whoami')).ok, true, 'others are untouched');
        assert.equal(got.length, 1, 'the oversized message was not relayed');
      });
    }
  }

  test('--max-connections refuses further handshakes and fails readiness at the cap', async (t) => {
    const relay = await startRelay(['--max-connections', '2']);
    t.after(() => relay.stop('SIGKILL'));
    const first = await client(relay.url);
    await client(relay.url);
    await refused(relay.url, {});
    const ready = await fetch(`${relay.adminUrl}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { ready: false, reasons: ['at --max-connections'] });
    first.disconnect();
    await waitFor('readiness back', async () => (await fetch(`${relay.adminUrl}/readyz`)).status === 200);
    assert.equal((await ask(await client(relay.url), 'whoami')).ok, true);
  });

  for (const transport of ['uws', 'ws'] as const) {
    test(`--max-handshake-rate refuses handshakes over the rate at once, and the refused clients get in on retry (${transport})`, async (t) => {
      const relay = await startRelay(['--max-handshake-rate', '2', '--transport', transport]);
      t.after(() => relay.stop('SIGKILL'));
      const first = await Promise.all([client(relay.url), client(relay.url)]);
      const refusal = await fetch(`${relay.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(refusal.status, 403);
      assert.deepEqual(await refusal.json(), {
        code: 4,
        message: 'RLY_ERR_ADMISSION: over --max-handshake-rate',
      });
      await refused(relay.url, { transports: ['websocket'] });
      // socket.io-client's own reconnection brings a refused client in once the bucket has refilled.
      const retrying = await client(relay.url, { reconnectionDelay: 200, randomizationFactor: 0 });
      assert.equal((await ask(retrying, 'whoami')).ok, true);
      assert.ok(first.every((c) => c.connected));
    });
  }

  test('binary placeholders: more than 10 attachments, or a decoded event over --max-payload, is refused before anything is stored or sent', async (t) => {
    const relay = await startRelay(['--max-payload', String(1024 * 1024)]);
    t.after(() => relay.stop('SIGKILL'));
    const member = await client(relay.url, { transports: ['websocket'] });
    assert.deepEqual(await ask(member, 'join', 'lobby'), { ok: true });
    const got = collect<unknown>(member, 'x');
    const attacker = await RawWebSocket.open(relay.url);
    await attacker.connect();
    let ackId = 0;
    /** `publish` with `data` referring to `binaries` attachments; resolves with the ack. */
    const publish = async (data: unknown, binaries: Buffer[]) => {
      const id = ++ackId;
      const frame = `45${binaries.length}-${id}${JSON.stringify(['publish', { room: 'lobby', event: 'x', data }])}`;
      attacker.send(frame);
      for (const b of binaries) attacker.send(b);
      const ack = await waitFor(`the ack of publish ${id}`, () =>
        attacker.frames.find((f) => f.startsWith(`43${id}[`)),
      );
      return (JSON.parse(ack.slice(`43${id}`.length)) as [ErrorReply | { ok: true }])[0];
    };
    const placeholders = (n: number, num = 0) =>
      Array.from({ length: n }, () => ({ _placeholder: true, num }));

    // Eleven references to one 1-byte attachment: socket.io-client would refuse the re-encoded packet.
    const eleven = await publish(placeholders(11), [Buffer.from([1])]);
    assert.equal(!eleven.ok && eleven.error.code, 'RLY_ERR_BAD_REQUEST');
    // One 256 KB attachment referred to 200 times: 50 MB once decoded.
    const amplified = await publish(placeholders(200), [Buffer.alloc(256 * 1024)]);
    assert.equal(!amplified.ok && amplified.error.code, 'RLY_ERR_BAD_REQUEST');
    // Ten distinct 200 KB attachments: every frame is under --max-payload, the event is not.
    const large = await publish(
      Array.from({ length: 10 }, (_, num) => ({ _placeholder: true, num })),
      Array.from({ length: 10 }, () => Buffer.alloc(200 * 1024)),
    );
    assert.equal(!large.ok && large.error.code, 'RLY_ERR_BAD_REQUEST');
    // Within the limits: delivered, and the only thing the member got.
    assert.deepEqual(await publish(placeholders(2), [Buffer.from([7])]), { ok: true });
    await received('the allowed binary publish', got, 1);
    assert.deepEqual(
      (got[0] as Buffer[]).map((b) => [...b]),
      [[7], [7]],
    );
    assert.equal(member.connected, true);
    attacker.close();
  });

  test('one polling POST of 1,000 CONNECTs makes one socket and closes the connection; sockets count against --max-connections', async (t) => {
    const relay = await startRelay(['--max-connections', '3']);
    t.after(() => relay.stop('SIGKILL'));
    const flood = await RawPolling.open(relay.url);
    // The first CONNECTs of a burst are answered one by one: one socket, then refusals.
    assert.equal(await flood.post(Array.from({ length: 3 }, () => '40').join('\x1e')), 200);
    const answers: string[] = [];
    await waitFor('an answer to every CONNECT', async () => {
      answers.push(...(await flood.poll()).packets.filter((p) => p.startsWith('40') || p.startsWith('44')));
      return answers.length >= 3;
    });
    assert.equal(answers.filter((p) => p.startsWith('40{')).length, 1, 'one socket');
    const refusals = answers.filter((p) => p.startsWith('44'));
    assert.equal(refusals.length, 2);
    assert.ok(
      refusals.every((p) => (JSON.parse(p.slice(2)) as ErrorData).data.code === 'RLY_ERR_BAD_REQUEST'),
    );
    // A flood closes the connection.
    await flood.post(Array.from({ length: 1000 }, () => '40').join('\x1e'));
    await waitFor('the flooding connection closed', async () => (await flood.poll()).status === 400);
    const stats = (await (await fetch(`${relay.adminUrl}/v1/stats`)).json()) as { connections: number };
    assert.equal(stats.connections, 0);
    // Three clients reach the cap of 3; a fourth is refused at the handshake.
    for (let i = 0; i < 3; i++) await client(relay.url, { transports: ['websocket'] });
    const fourth = await refused(relay.url, { transports: ['websocket'] });
    assert.match(fourth.message, /RLY_ERR_ADMISSION|websocket error|xhr poll error/);
  });

  test('a flood of CONNECTs with forged recovery sessions costs a few Redis reads, not one per CONNECT', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const relay = await startRelay(['--redis-url', redis.url]);
    t.after(() => relay.stop('SIGKILL'));
    const reads = async () =>
      Number(
        /cmdstat_get:calls=(\d+)/.exec(
          String(await redisCommand(redis.port, ['INFO', 'commandstats'])),
        )?.[1] ?? 0,
      );
    const before = await reads();
    const flood = await RawPolling.open(relay.url);
    const forged = (i: number) => `40${JSON.stringify({ pid: `forged-${i}`, offset: '1700000000000-0' })}`;
    await flood.post(Array.from({ length: 1000 }, (_, i) => forged(i)).join('\x1e'));
    const closed = await waitFor(
      'the flooding connection closed',
      async () => (await flood.poll()).status === 400,
      5_000,
    ).then(
      () => true,
      () => false,
    );
    const cost = (await reads()) - before;
    t.diagnostic(`${cost} session reads for 1,000 CONNECTs`);
    assert.ok(cost <= 20, `${cost} session reads for 1,000 CONNECTs`);
    assert.ok(closed, 'the flooding connection was closed');
    // Everyone else is served.
    assert.equal((await ask(await client(relay.url), 'whoami')).ok, true);
  });

  test('a socket may join at most 100 rooms', async (t) => {
    const relay = await startRelay();
    t.after(() => relay.stop('SIGKILL'));
    const socket = await client(relay.url);
    for (let i = 0; i < 100; i++) assert.deepEqual(await ask(socket, 'join', `room-${i}`), { ok: true });
    assert.equal(
      (await ask<ErrorReply>(socket, 'join', 'one-too-many')).error.code,
      'RLY_ERR_TOO_MANY_ROOMS',
    );
    assert.deepEqual(await ask(socket, 'join', 'room-7'), { ok: true }, 'rejoining a room is fine');
  });

  test('--cors-origin: browsers from other origins are refused, listed ones and non-browsers are not', async (t) => {
    const relay = await startRelay(['--cors-origin', 'https://app.example.com,https://admin.example.com']);
    t.after(() => relay.stop('SIGKILL'));
    for (const transports of [['polling'], ['websocket']]) {
      await refused(relay.url, { transports, extraHeaders: { origin: 'https://evil.example.com' } });
      const ok = await client(relay.url, {
        transports,
        extraHeaders: { origin: 'https://admin.example.com' },
      });
      assert.equal((await ask(ok, 'whoami')).ok, true);
    }
    assert.equal((await ask(await client(relay.url), 'whoami')).ok, true, 'no Origin header: not a browser');
  });
});
