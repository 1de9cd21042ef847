// The embedded default: no Redis, in-memory adapter. Built-in events, coded errors, admin routes, drain.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { exited, track, waitFor } from '../helpers/processes.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';

type ErrorReply = { ok: false; error: { code: string; message: string } };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Clients of stopped relays would otherwise keep reconnecting and hold the test process open.
after(() => closeClients());

async function http(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('npm start', () => {
  test('serves a client on the embedded default (no Redis)', async () => {
    // Exactly the quick-start command, on free ports; its own process group so npm and node both stop.
    const child = track(
      spawn('npm', ['start', '--silent', '--', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
    });
    try {
      const listening = await waitFor('the listening line', () =>
        out
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((entry) => entry.msg === 'listening'),
      );
      assert.equal(listening.transport, 'uws');
      assert.equal(listening.adapter, 'memory');
      const socket = await client(`http://127.0.0.1:${listening.port}`);
      const me = await ask(socket, 'whoami');
      assert.equal(me.ok, true);
      assert.equal(me.transport, 'uws');
      const page = await fetch(`http://127.0.0.1:${listening.port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /socket\.io\.js/);
      socket.disconnect();
    } finally {
      process.kill(-(child.pid as number), 'SIGTERM');
      await exited(child);
    }
  });
});

for (const transport of ['uws', 'ws'] as const) {
  describe(`embedded default (${transport})`, () => {
    let relay: RelayProcess;
    before(async () => {
      relay = await startRelay(['--transport', transport, '--instance-id', `solo-${transport}`]);
    });
    after(async () => {
      closeClients();
      await relay.stop('SIGKILL');
    });

    test('whoami, join, publish: room members receive exactly once, others nothing', async () => {
      const a = await client(relay.url);
      const b = await client(relay.url, { transports: ['polling'] });
      const c = await client(relay.url);
      const me = await ask(a, 'whoami');
      assert.deepEqual(me, {
        ok: true,
        socketId: a.id,
        instanceId: `solo-${transport}`,
        transport,
        engine: a.io.engine.transport.name,
        recovered: false,
      });
      const atA = collect(a, 'hello');
      const atB = collect(b, 'hello');
      const atC = collect(c, 'hello');
      assert.deepEqual(await ask(a, 'join', 'lobby'), { ok: true });
      assert.deepEqual(await ask(b, 'join', 'lobby'), { ok: true });
      assert.deepEqual(await ask(a, 'publish', { room: 'lobby', event: 'hello', data: { n: 1 } }), {
        ok: true,
      });
      assert.deepEqual(await ask(a, 'publish', { room: c.id, event: 'hello', data: { n: 2 } }), { ok: true });
      await received('room message at b', atB, 1);
      await received('direct message at c', atC, 1);
      await received('room message at a', atA, 1);
      assert.deepEqual(await ask(b, 'leave', 'lobby'), { ok: true });
      assert.deepEqual(await ask(a, 'publish', { room: 'lobby', event: 'hello', data: { n: 3 } }), {
        ok: true,
      });
      await received('second room message at a', atA, 2);
      assert.deepEqual(atA, [{ n: 1 }, { n: 3 }]);
      assert.deepEqual(atB, [{ n: 1 }], 'b left before the second message');
      assert.deepEqual(atC, [{ n: 2 }]);
    });

    test('direct messages reach a socket on WebSocket, on polling and after its upgrade, exactly once', async () => {
      const ws = await client(relay.url, { transports: ['websocket'] });
      const polling = await client(relay.url, { transports: ['polling'] });
      const upgraded = await client(relay.url);
      if (upgraded.io.engine.transport.name !== 'websocket') {
        await new Promise((resolve) => upgraded.io.engine.once('upgrade', resolve));
      }
      const targets = [ws, polling, upgraded];
      const got = targets.map((s) => collect(s, 'direct'));
      for (const [i, target] of targets.entries()) {
        assert.deepEqual(await ask(ws, 'publish', { room: target.id, event: 'direct', data: { to: i } }), {
          ok: true,
        });
      }
      for (const [i, list] of got.entries()) await received(`direct message at client ${i}`, list, 1);
      // A room message after the direct ones reaches all three, and nothing more arrives.
      const done = targets.map((s) => collect(s, 'done'));
      for (const s of targets) assert.deepEqual(await ask(s, 'join', 'after'), { ok: true });
      assert.deepEqual(await ask(ws, 'publish', { room: 'after', event: 'done', data: {} }), { ok: true });
      for (const [i, list] of done.entries()) await received(`room message at client ${i}`, list, 1);
      assert.deepEqual(got, [[{ to: 0 }], [{ to: 1 }], [{ to: 2 }]]);
      assert.deepEqual(done, [[{}], [{}], [{}]]);
    });

    test('a WebSocket handshake: the 101 answer and the Engine.IO open packet arrive in one read', async () => {
      const { port } = new URL(relay.url);
      const chunks = await new Promise<Buffer[]>((resolve, reject) => {
        const got: Buffer[] = [];
        const socket = netConnect(Number(port), '127.0.0.1', () =>
          socket.write(
            'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n' +
              'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          ),
        );
        socket.on('data', (chunk) => {
          got.push(chunk);
          // Done once the open packet (`0{"sid":...}`) is in.
          if (Buffer.concat(got).includes('0{"sid"')) {
            socket.destroy();
            resolve(got);
          }
        });
        const fail = (err: Error) => {
          socket.destroy();
          reject(err);
        };
        socket.on('error', fail);
        setTimeout(() => fail(new Error('no open packet within 5 s')), 5_000).unref();
      });
      const first = chunks[0]?.toString('latin1') ?? '';
      assert.match(first, /^HTTP\/1\.1 101 /);
      assert.equal(chunks.length, 1, 'one write: the 101 and the open packet together');
      assert.match(first, /\r\n\r\n\x81.0\{"sid":"/s);
    });

    test('bad payloads and unknown events get coded error acks; the relay keeps serving', async () => {
      const s = await client(relay.url);
      const cases: Array<[string, unknown[], string]> = [
        ['join', [], 'RLY_ERR_BAD_REQUEST'],
        ['join', [42], 'RLY_ERR_BAD_REQUEST'],
        ['join', ['x'.repeat(257)], 'RLY_ERR_BAD_REQUEST'],
        ['join', [{ room: 'lobby' }], 'RLY_ERR_BAD_REQUEST'],
        ['join', ['AAAAAAAAAAAAAAAAAAAA'], 'RLY_ERR_ROOM_RESERVED'],
        ['leave', [null], 'RLY_ERR_BAD_REQUEST'],
        ['leave', [s.id], 'RLY_ERR_ROOM_RESERVED'],
        ['publish', ['lobby'], 'RLY_ERR_BAD_REQUEST'],
        ['publish', [{ room: 'lobby' }], 'RLY_ERR_BAD_REQUEST'],
        ['publish', [{ event: 'x' }], 'RLY_ERR_BAD_REQUEST'],
        ['publish', [{ room: 'lobby', event: 'connect' }], 'RLY_ERR_BAD_REQUEST'],
        ['publish', [{ room: 'lobby', event: 7 }], 'RLY_ERR_BAD_REQUEST'],
        ['publish', [[1, 2]], 'RLY_ERR_BAD_REQUEST'],
        ['order-pizza', [{ size: 'L' }], 'RLY_ERR_NO_HANDLER'],
      ];
      for (const [event, args, code] of cases) {
        const reply = await ask<ErrorReply>(s, event, ...args);
        assert.equal(reply.ok, false, `${event} ${JSON.stringify(args)}`);
        assert.equal(reply.error.code, code, `${event} ${JSON.stringify(args)}`);
        assert.equal(typeof reply.error.message, 'string');
      }
      // Events without an ack are dropped quietly; the socket stays usable.
      s.emit('join', 42);
      s.emit('order-pizza');
      assert.equal((await ask(s, 'whoami')).ok, true);
      assert.equal(s.connected, true);
    });

    test('admin routes: health, readiness, metrics, stats, instances, rooms, publish, disconnect', async () => {
      const s = await client(relay.url);
      await ask(s, 'join', 'ops');
      assert.deepEqual(await http(`${relay.adminUrl}/healthz`), { status: 200, body: { ok: true } });
      assert.deepEqual(await http(`${relay.adminUrl}/readyz`), { status: 200, body: { ready: true } });

      const metrics = await fetch(`${relay.adminUrl}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      for (const name of [
        'relay_connections',
        'relay_events_in_total',
        'relay_events_out_total',
        'relay_publishes_total',
        'relay_recoveries_total',
        'relay_redis_errors_total',
        'relay_draining',
      ]) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
      }
      assert.match(text, /relay_events_in_total\{[^}]*event="join"[^}]*\} [1-9]/);

      const stats = await http(`${relay.adminUrl}/v1/stats`);
      assert.equal(stats.status, 200);
      assert.equal(stats.body.instanceId, `solo-${transport}`);
      assert.equal(stats.body.transport, transport);
      assert.equal(stats.body.adapter, 'memory');
      assert.equal(stats.body.draining, false);
      assert.ok((stats.body.connections as number) >= 1);
      assert.ok((stats.body.rooms as number) >= 1);
      assert.equal(typeof stats.body.uptimeSeconds, 'number');

      const instances = await http(`${relay.adminUrl}/v1/instances`);
      assert.deepEqual(
        (instances.body.instances as Array<{ instanceId: string }>).map((i) => i.instanceId),
        [`solo-${transport}`],
      );

      const members = await http(`${relay.adminUrl}/v1/rooms/ops/sockets`);
      assert.deepEqual(members.body.sockets, [s.id]);

      const notices = collect(s, 'notice');
      const published = await http(`${relay.adminUrl}/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'ops', event: 'notice', data: 'hi' }),
      });
      assert.equal(published.status, 202);
      await received('admin publish', notices, 1);
      assert.deepEqual(notices, ['hi']);

      for (const [body, code] of [
        [{}, 'RLY_ERR_BAD_REQUEST'],
        [{ event: 5 }, 'RLY_ERR_BAD_REQUEST'],
        [{ event: 'x', extra: 1 }, 'RLY_ERR_BAD_REQUEST'],
        [{ event: 'disconnect' }, 'RLY_ERR_BAD_REQUEST'],
        [{ namespace: '/nope', event: 'x' }, 'RLY_ERR_UNKNOWN_NAMESPACE'],
      ] as const) {
        const res = await http(`${relay.adminUrl}/v1/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.ok(res.status === 400 || res.status === 404, JSON.stringify(body));
        assert.equal((res.body.error as { code: string }).code, code, JSON.stringify(body));
      }
      const notJson = await http(`${relay.adminUrl}/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{oops',
      });
      assert.equal(notJson.status, 400);
      assert.equal((notJson.body.error as { code: string }).code, 'RLY_ERR_BAD_REQUEST');
      const noRoute = await http(`${relay.adminUrl}/v1/nothing`);
      assert.equal(noRoute.status, 404);
      assert.equal((noRoute.body.error as { code: string }).code, 'RLY_ERR_ROUTE_NOT_FOUND');

      const gone = new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason)));
      assert.equal((await http(`${relay.adminUrl}/v1/sockets/${s.id}`, { method: 'DELETE' })).status, 204);
      assert.equal(await gone, 'io server disconnect');
    });
  });
}

describe('admin token', () => {
  test('/v1/* needs the bearer token; probes stay open', async (t) => {
    const relay = await startRelay(['--admin-token', 's3cret-token']);
    t.after(() => relay.stop('SIGKILL'));
    assert.equal((await http(`${relay.adminUrl}/healthz`)).status, 200);
    assert.equal((await http(`${relay.adminUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${relay.adminUrl}/metrics`)).status, 200);
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: 's3cret-token' },
    ];
    for (const headers of attempts) {
      const res = await http(`${relay.adminUrl}/v1/stats`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal((res.body.error as { code: string }).code, 'RLY_ERR_UNAUTHORIZED');
    }
    const denied = await http(`${relay.adminUrl}/v1/drain`, { method: 'POST' });
    assert.equal(denied.status, 401);
    const ok = await http(`${relay.adminUrl}/v1/stats`, {
      headers: { authorization: 'Bearer s3cret-token' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.draining, false);
    assert.equal(JSON.stringify(ok.body).includes('s3cret'), false, 'the token is not echoed');
  });
});

describe('admin API: foreign Host and cross-site requests', () => {
  /** One request with exactly these headers (fetch would set Host and Origin itself). */
  function raw(
    relay: RelayProcess,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; code?: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: relay.adminPort, method, path, headers }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          const parsed = text.startsWith('{') ? (JSON.parse(text) as { error?: { code: string } }) : {};
          resolve({ status: res.statusCode ?? 0, code: parsed.error?.code });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test('only its own addresses and configured names; state changes only from its own origin, as JSON', async (t) => {
    const relay = await startRelay(['--admin-allowed-hosts', 'relay-admin.internal,Admin.Example.com']);
    t.after(() => relay.stop('SIGKILL'));
    const at = `127.0.0.1:${relay.adminPort}`;
    const forbidden = { status: 403, code: 'RLY_ERR_FORBIDDEN' };

    // DNS rebinding: a name that is not this server's is refused on every route, probes included.
    for (const path of ['/v1/stats', '/healthz', '/metrics', '/dashboard']) {
      assert.deepEqual(
        await raw(relay, 'GET', path, { host: `rebound.example:${relay.adminPort}` }),
        forbidden,
        path,
      );
    }
    for (const host of [
      at,
      `localhost:${relay.adminPort}`,
      '[::1]:9100',
      '10.1.2.3',
      'relay-admin.internal',
      'admin.example.com:443',
    ]) {
      assert.equal((await raw(relay, 'GET', '/v1/stats', { host })).status, 200, host);
    }
    // HTTP/1.0 health checkers send no Host at all.
    const noHost = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(relay.adminPort, '127.0.0.1', () =>
        socket.end('GET /readyz HTTP/1.0\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(noHost, /^HTTP\/1\.[01] 200/);

    // Cross-site requests that change state: refused, whatever their body.
    const publish = JSON.stringify({ room: 'lobby', event: 'x', data: 1 });
    const json = { host: at, 'content-type': 'application/json' };
    for (const [headers, body] of [
      [{ ...json, origin: 'https://attacker.example' }, publish],
      [{ ...json, origin: 'null' }, publish],
      [{ ...json, 'sec-fetch-site': 'cross-site' }, publish],
      [{ ...json, 'sec-fetch-site': 'same-site' }, publish],
      [{ host: at, origin: 'https://attacker.example' }, undefined],
    ] as const) {
      assert.deepEqual(
        await raw(relay, 'POST', '/v1/publish', headers, body),
        forbidden,
        JSON.stringify(headers),
      );
      assert.deepEqual(await raw(relay, 'POST', '/v1/drain', headers), forbidden, JSON.stringify(headers));
    }
    assert.deepEqual(
      await raw(relay, 'DELETE', '/v1/sockets/abc', { host: at, 'sec-fetch-site': 'cross-site' }),
      forbidden,
    );
    // Bodies that forms and simple requests can send are not JSON, so they are refused too.
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = { status: 415, code: 'RLY_ERR_BAD_REQUEST' };
      assert.deepEqual(
        await raw(relay, 'POST', '/v1/publish', { host: at, 'content-type': type }, publish),
        answer,
        type,
      );
      assert.deepEqual(
        await raw(relay, 'POST', '/v1/drain', { host: at, 'content-type': type }),
        answer,
        type,
      );
    }
    assert.equal((await http(`${relay.adminUrl}/v1/stats`)).body.draining, false);

    // Its own origin, an operator's curl (no Origin), and JSON: accepted.
    const own = { ...json, origin: `http://${at}`, 'sec-fetch-site': 'same-origin' };
    assert.equal((await raw(relay, 'POST', '/v1/publish', own, publish)).status, 202);
    assert.equal((await raw(relay, 'POST', '/v1/publish', json, publish)).status, 202);
    assert.equal((await raw(relay, 'POST', '/v1/drain', { host: at })).status, 202);
    assert.equal(await relay.exited(), 0);
  });
});

describe('namespace policies from a config file', () => {
  test('join and publish follow the patterns; unlisted namespaces refuse clients', async (t) => {
    const file = join(tmpdir(), `relay-policy-${process.pid}.yaml`);
    writeFileSync(
      file,
      ['namespaces:', '  /app:', '    join: ["public:*", "team-?"]', '    publish: ["public:*"]', ''].join(
        '\n',
      ),
    );
    const relay = await startRelay(['--config', file]);
    t.after(() => relay.stop('SIGKILL'));
    const s = await client(relay.url, {}, '/app');
    assert.deepEqual(await ask(s, 'join', 'public:news'), { ok: true });
    assert.deepEqual(await ask(s, 'join', 'team-?'), { ok: true }, '? is literal, only * is a wildcard');
    assert.equal((await ask<ErrorReply>(s, 'join', 'team-a')).error.code, 'RLY_ERR_FORBIDDEN');
    assert.equal((await ask<ErrorReply>(s, 'join', 'private')).error.code, 'RLY_ERR_FORBIDDEN');
    assert.equal(
      (await ask<ErrorReply>(s, 'publish', { room: 'team-?', event: 'x', data: 1 })).error.code,
      'RLY_ERR_FORBIDDEN',
    );
    const got = collect(s, 'x');
    assert.deepEqual(await ask(s, 'publish', { room: 'public:news', event: 'x', data: 1 }), { ok: true });
    await received('allowed publish', got, 1);

    await assert.rejects(
      client(relay.url, { reconnection: false }),
      (err: Error & { data?: { code: string } }) => {
        assert.equal(err.data?.code, 'RLY_ERR_UNKNOWN_NAMESPACE');
        return true;
      },
    );
  });
});

describe('graceful drain', () => {
  for (const transport of ['uws', 'ws'] as const) {
    test(`POST /v1/drain: clients closed for recovery, listener closed, exit 0 (${transport})`, async () => {
      const relay = await startRelay(['--transport', transport]);
      const clients = await Promise.all([
        client(relay.url, { transports: ['websocket'] }),
        client(relay.url, { transports: ['polling'] }),
      ]);
      const reasons = clients.map(
        (s) => new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason))),
      );
      const res = await http(`${relay.adminUrl}/v1/drain`, { method: 'POST' });
      assert.equal(res.status, 202);
      assert.equal(await relay.exited(), 0, 'the drain ends the process with exit code 0');
      // The client sees its transport dropped (it will reconnect and recover elsewhere), not a server kick
      // nor an Engine.IO CLOSE packet: a WebSocket closes, a waiting long-polling request fails.
      assert.deepEqual(await Promise.all(reasons), ['transport close', 'transport error']);
      // The drain's own lines; not the admin server's (its listen banner, the request that asked for it).
      const order = relay.logs
        .filter((l) => l.reqId === undefined && !String(l.msg).startsWith('Server listening'))
        .map((l) => l.msg)
        .filter((m) => m !== 'listening' && m !== 'drain step done');
      assert.deepEqual(order, [
        'drain started',
        'closing sockets for recovery',
        'sockets closed for recovery',
        'drain finished',
      ]);
      assert.equal(relay.logs.find((l) => l.msg === 'sockets closed for recovery')?.closed, 2);
      await assert.rejects(fetch(`${relay.url}/`), 'the public port no longer accepts connections');
    });
  }

  test('SIGTERM runs the steps in the contract order: readiness first, exit last', async () => {
    const relay = await startRelay();
    await client(relay.url);
    assert.equal(await relay.stop('SIGTERM'), 0);
    const steps = relay.logs.filter((l) => l.msg === 'drain step done').map((l) => l.step);
    assert.deepEqual(steps, [
      'readiness',
      'public-listener',
      'sockets',
      'presence',
      'backends',
      'redis-flush',
      'socket.io',
      'registry',
      'redis',
      'admin',
    ]);
  });
});
