// The admin app (src/admin/app.ts) through Fastify's inject(), with fake relay operations and registry:
// stats, publish validation, the Host and cross-site guard, the bearer token, and the shape of every error.
// test/e2e/embedded.test.ts and cluster.test.ts run the same routes on a real relay.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { createAdminApp } from '../../src/admin/app.js';
import type { InstanceInfo } from '../../src/cluster/registry.js';
import { loadConfig } from '../../src/config/load.js';
import { ErrorCodes, RelayError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { PublishRequest } from '../../src/relay/ops.js';

/** When the fake instance started; the stats test freezes the clock 42 s later. */
const STARTED_AT = Date.UTC(2030, 0, 1);

function instance(instanceId: string): InstanceInfo {
  return {
    instanceId,
    bootId: `${instanceId}-boot`,
    transport: 'uws',
    adapter: 'streams',
    connections: 1,
    draining: false,
    startedAt: new Date(STARTED_AT).toISOString(),
    lastSeen: new Date().toISOString(),
    rooms: 0,
    publishesTotal: 0,
    recoveriesTotal: 0,
    recoveryFailuresTotal: 0,
    topRooms: [],
  };
}

/** An admin app over fakes; `calls` records what the routes asked of the relay. */
async function adminApp(argv: string[] = [], opts: { registryDown?: boolean; notReady?: string[] } = {}) {
  const { config } = loadConfig({ argv: ['start', '--instance-id', 'A', ...argv], env: {} });
  const calls = {
    published: [] as Array<[PublishRequest, string]>,
    disconnected: [] as string[],
    drains: [] as string[],
    drainedInstances: [] as string[],
  };
  const logs: string[] = [];
  const app = await createAdminApp({
    config,
    metrics: createMetrics({ instanceId: 'A', transport: 'uws' }),
    log: createLogger('A', (line) => logs.push(line)),
    ops: {
      async publish(req, source) {
        if (req.room === 'cluster-down') throw new RelayError(ErrorCodes.CLUSTER, 'Redis is unavailable');
        if (req.namespace === '/nowhere') throw new RelayError(ErrorCodes.UNKNOWN_NAMESPACE, 'no namespace');
        calls.published.push([req, source]);
      },
      async roomSockets(_namespace, room) {
        if (room === 'broken') throw new Error('secret internal detail');
        return ['s1', 's2'];
      },
      async disconnectSocket(namespace, id) {
        calls.disconnected.push(`${namespace} ${id}`);
        return id === 'known';
      },
      localStats: () => ({ connections: 3, rooms: 2 }),
    },
    registry: {
      start: async () => {},
      beat: async () => {},
      stop: async () => {},
      async list() {
        if (opts.registryDown) throw new Error('ECONNREFUSED');
        const b = instance('B');
        b.topRooms = [
          { namespace: '/', room: 'chat:1', members: 2 },
          { namespace: '/', room: 'lobby', members: 1 },
        ];
        return [instance('A'), b];
      },
    },
    notReadyReasons: () => opts.notReady ?? [],
    isDraining: () => false,
    startedAt: STARTED_AT,
    adapterName: 'streams',
    recoverable: true,
    startDrain: (reason) => calls.drains.push(reason),
    drainInstance: (id) => calls.drainedInstances.push(id),
    async presence(namespace, room) {
      if (namespace !== '/') throw new RelayError(ErrorCodes.UNKNOWN_NAMESPACE, 'no namespace');
      if (!room.startsWith('chat:')) throw new RelayError(ErrorCodes.BAD_REQUEST, 'not a presence room');
      return [{ userId: 'alice', sockets: 2 }];
    },
    isPresenceRoom: (namespace, room) => namespace === '/' && room.startsWith('chat:'),
  });
  return { app, calls, logs };
}

/** One request; the answer's status and parsed JSON body. */
async function call(app: FastifyInstance, opts: InjectOptions) {
  const res = await app.inject(opts);
  const type = String(res.headers['content-type'] ?? '');
  return {
    status: res.statusCode,
    body: type.startsWith('application/json') ? res.json() : res.body,
    type,
  };
}

const json = { 'content-type': 'application/json' };

describe('admin API', () => {
  test('GET /v1/stats: this instance, its counts and uptime', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: STARTED_AT + 42_400 });
    const { app } = await adminApp();
    assert.deepEqual((await call(app, { method: 'GET', url: '/v1/stats' })).body, {
      instanceId: 'A',
      transport: 'uws',
      adapter: 'streams',
      connectionStateRecovery: true,
      connections: 3,
      rooms: 2,
      uptimeSeconds: 42,
      draining: false,
    });
  });

  test('probes: health always, readiness with its reasons, metrics in Prometheus text', async () => {
    const ready = await adminApp();
    assert.deepEqual((await call(ready.app, { method: 'GET', url: '/healthz' })).body, { ok: true });
    assert.deepEqual(await call(ready.app, { method: 'GET', url: '/readyz' }), {
      status: 200,
      body: { ready: true },
      type: 'application/json; charset=utf-8',
    });
    const metrics = await call(ready.app, { method: 'GET', url: '/metrics' });
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    assert.match(String(metrics.body), /^# TYPE relay_connections gauge$/m);

    const draining = await adminApp([], { notReady: ['draining', 'redis unavailable'] });
    assert.deepEqual(await call(draining.app, { method: 'GET', url: '/readyz' }), {
      status: 503,
      body: { ready: false, reasons: ['draining', 'redis unavailable'] },
      type: 'application/json; charset=utf-8',
    });
  });

  test('POST /v1/publish: a valid body is published as an admin publish (202)', async () => {
    const { app, calls } = await adminApp();
    const body = { namespace: '/app', room: 'lobby', event: 'news', data: { n: 1, list: [true, null] } };
    assert.deepEqual(await call(app, { method: 'POST', url: '/v1/publish', headers: json, payload: body }), {
      status: 202,
      body: { ok: true },
      type: 'application/json; charset=utf-8',
    });
    assert.deepEqual(
      (await call(app, { method: 'POST', url: '/v1/publish', headers: json, payload: { event: 'all' } }))
        .status,
      202,
      'namespace, room and data are optional',
    );
    assert.deepEqual(JSON.parse(JSON.stringify(calls.published)), [
      [body, 'admin'],
      [{ event: 'all' }, 'admin'],
    ]);
  });

  test("POST /v1/publish { user }: published to the user's room user:<id>", async () => {
    const { app, calls } = await adminApp();
    const body = { user: 'alice', event: 'note', data: 1 };
    const answer = await call(app, { method: 'POST', url: '/v1/publish', headers: json, payload: body });
    assert.equal(answer.status, 202);
    assert.deepEqual(JSON.parse(JSON.stringify(calls.published)), [
      [{ room: 'user:alice', event: 'note', data: 1 }, 'admin'],
    ]);
  });

  test('POST /v1/publish: a body the schema does not allow is a 400 RLY_ERR_BAD_REQUEST, and nothing is published', async () => {
    const { app, calls } = await adminApp();
    for (const [payload, why] of [
      [{ room: 'lobby', data: 1 }, 'no event'],
      [{ event: '' }, 'an empty event'],
      [{ event: 7 }, 'an event that is not a string (no coercion)'],
      [{ event: 'e', room: '' }, 'an empty room'],
      [{ event: 'e', room: 'lobby', user: 'alice' }, 'a room and a user'],
      [{ event: 'e', user: '' }, 'an empty user'],
      [{ event: 'e', user: 'x'.repeat(252) }, 'a user id too long for a room name'],
      [{ event: 'e', rooms: ['a'] }, 'an unknown field (not silently dropped)'],
      ['{"event": "e"', 'malformed JSON'],
      [[{ event: 'e' }], 'not an object'],
    ] as const) {
      const answer = await call(app, {
        method: 'POST',
        url: '/v1/publish',
        headers: json,
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      assert.equal(answer.status, 400, why);
      const body = answer.body as { error: { code: string; message: string } };
      assert.equal(body.error.code, ErrorCodes.BAD_REQUEST, why);
      assert.ok(body.error.message.length > 0, why);
      assert.deepEqual(Object.keys(body), ['error'], why);
    }
    assert.deepEqual(calls.published, []);
  });

  test("the relay's refusals keep their code and status: unknown namespace 404, cluster down 503", async () => {
    const { app } = await adminApp();
    const publish = (payload: object) =>
      call(app, { method: 'POST', url: '/v1/publish', headers: json, payload });
    assert.deepEqual((await publish({ namespace: '/nowhere', event: 'e' })).body, {
      error: { code: ErrorCodes.UNKNOWN_NAMESPACE, message: 'no namespace' },
    });
    assert.equal((await publish({ namespace: '/nowhere', event: 'e' })).status, 404);
    const down = await publish({ room: 'cluster-down', event: 'e' });
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { error: { code: ErrorCodes.CLUSTER, message: 'Redis is unavailable' } });
  });

  test('404s have the error shape: unknown route, unknown socket, unknown instance', async () => {
    const { app, calls } = await adminApp();
    assert.deepEqual(await call(app, { method: 'GET', url: '/v2/stats?x=1' }), {
      status: 404,
      body: { error: { code: ErrorCodes.ROUTE_NOT_FOUND, message: 'no route GET /v2/stats' } },
      type: 'application/json; charset=utf-8',
    });
    const socket = await call(app, { method: 'DELETE', url: '/v1/sockets/nobody?namespace=/app' });
    assert.equal(socket.status, 404);
    assert.deepEqual(socket.body, {
      error: { code: ErrorCodes.SOCKET_NOT_FOUND, message: 'no socket "nobody" is connected' },
    });
    assert.equal((await call(app, { method: 'DELETE', url: '/v1/sockets/known' })).status, 204);
    assert.deepEqual(calls.disconnected, ['/app nobody', '/ known']);

    const lost = await call(app, { method: 'POST', url: '/v1/instances/Z/drain' });
    assert.equal(lost.status, 404);
    assert.equal((lost.body as { error: { code: string } }).error.code, ErrorCodes.INSTANCE_NOT_FOUND);
    assert.deepEqual(calls.drainedInstances, [], 'no drain asked of an instance that is not live');
  });

  test('drains: this instance, another live one; the registry down is a 503', async () => {
    const { app, calls } = await adminApp();
    assert.deepEqual((await call(app, { method: 'POST', url: '/v1/drain' })).body, {
      ok: true,
      draining: true,
    });
    assert.deepEqual(calls.drains, ['admin request']);
    assert.deepEqual((await call(app, { method: 'POST', url: '/v1/instances/B/drain' })).body, {
      ok: true,
      instanceId: 'B',
      draining: true,
    });
    assert.deepEqual(calls.drainedInstances, ['B']);

    const cut = await adminApp([], { registryDown: true });
    for (const [method, url] of [
      ['GET', '/v1/instances'],
      ['POST', '/v1/instances/B/drain'],
    ] as const) {
      const answer = await call(cut.app, { method, url });
      assert.equal(answer.status, 503, url);
      assert.equal((answer.body as { error: { code: string } }).error.code, ErrorCodes.CLUSTER, url);
    }
    assert.equal(
      (await call(cut.app, { method: 'POST', url: '/v1/instances/A/drain' })).status,
      202,
      'itself',
    );
  });

  test('anything unexpected is a 500 that says only "internal error", and is logged with its detail', async () => {
    const { app, logs } = await adminApp();
    assert.deepEqual(await call(app, { method: 'GET', url: '/v1/rooms/broken/sockets' }), {
      status: 500,
      body: { error: { code: ErrorCodes.INTERNAL, message: 'internal error' } },
      type: 'application/json; charset=utf-8',
    });
    const failures = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'admin request failed');
    assert.equal(failures.length, 1);
    assert.equal(failures[0].code, ErrorCodes.INTERNAL);
    assert.match(JSON.stringify(failures[0].error), /secret internal detail/);
    assert.deepEqual((await call(app, { method: 'GET', url: '/v1/rooms/lobby/sockets' })).body, {
      room: 'lobby',
      namespace: '/',
      sockets: ['s1', 's2'],
    });
  });
});

describe('admin API: presence', () => {
  test('GET /v1/rooms/:room/presence: the users of a presence room; 400 for another room, 404 for another namespace', async () => {
    const { app } = await adminApp();
    assert.deepEqual(await call(app, { method: 'GET', url: '/v1/rooms/chat:1/presence' }), {
      status: 200,
      body: { room: 'chat:1', namespace: '/', users: [{ userId: 'alice', sockets: 2 }] },
      type: 'application/json; charset=utf-8',
    });
    const other = await call(app, { method: 'GET', url: '/v1/rooms/lobby/presence' });
    assert.equal(other.status, 400);
    assert.equal((other.body as { error: { code: string } }).error.code, ErrorCodes.BAD_REQUEST);
    const nowhere = await call(app, { method: 'GET', url: '/v1/rooms/chat:1/presence?namespace=/x' });
    assert.equal(nowhere.status, 404);
  });

  test('GET /v1/instances marks the largest rooms that keep presence', async () => {
    const { app } = await adminApp();
    const { instances } = (await call(app, { method: 'GET', url: '/v1/instances' })).body as {
      instances: InstanceInfo[];
    };
    assert.deepEqual(
      instances.map((i) => i.topRooms),
      [
        [],
        [
          { namespace: '/', room: 'chat:1', members: 2, presence: true },
          { namespace: '/', room: 'lobby', members: 1, presence: false },
        ],
      ],
    );
  });
});

describe('admin API: foreign Host and cross-site requests', () => {
  const forbidden = (body: unknown) =>
    (body as { error: { code: string } }).error.code === ErrorCodes.FORBIDDEN;

  test('a Host that is not an address of this server or a configured name is refused on every route', async () => {
    const { app } = await adminApp(['--admin-allowed-hosts', 'relay-admin.internal,Admin.Example.com']);
    for (const url of ['/v1/stats', '/healthz', '/metrics', '/dashboard', '/nowhere']) {
      const answer = await call(app, { method: 'GET', url, headers: { host: 'rebound.example:9100' } });
      assert.equal(answer.status, 403, url);
      assert.ok(forbidden(answer.body), url);
    }
    for (const host of ['bad host', 'a.example:99999999', 'localhost.evil.example']) {
      assert.equal(
        (await call(app, { method: 'GET', url: '/healthz', headers: { host } })).status,
        403,
        host,
      );
    }
    for (const host of [
      '127.0.0.1:9100',
      'localhost:9100',
      '[::1]:9100',
      '10.1.2.3',
      'relay-admin.internal',
      'admin.example.com:443',
      'ADMIN.example.COM',
    ]) {
      assert.equal(
        (await call(app, { method: 'GET', url: '/v1/stats', headers: { host } })).status,
        200,
        host,
      );
    }
  });

  test('a state change from another origin is refused (403); a body that is not JSON is refused (415)', async () => {
    const { app, calls } = await adminApp();
    const host = '127.0.0.1:9100';
    const payload = JSON.stringify({ room: 'lobby', event: 'x', data: 1 });
    for (const headers of [
      { host, ...json, origin: 'https://attacker.example' },
      { host, ...json, origin: 'null' },
      { host, ...json, 'sec-fetch-site': 'cross-site' },
      { host, ...json, 'sec-fetch-site': 'same-site' },
    ]) {
      for (const [method, url] of [
        ['POST', '/v1/publish'],
        ['POST', '/v1/drain'],
        ['DELETE', '/v1/sockets/known'],
      ] as const) {
        const answer = await call(app, { method, url, headers, payload });
        assert.equal(answer.status, 403, `${method} ${url} ${JSON.stringify(headers)}`);
        assert.ok(forbidden(answer.body));
      }
    }
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await call(app, {
        method: 'POST',
        url: '/v1/publish',
        headers: { host, 'content-type': type },
        payload,
      });
      assert.deepEqual(
        answer.body,
        { error: { code: ErrorCodes.BAD_REQUEST, message: 'admin request bodies must be application/json' } },
        type,
      );
      assert.equal(answer.status, 415, type);
    }
    assert.deepEqual(calls, { published: [], disconnected: [], drains: [], drainedInstances: [] });

    // A read from anywhere is fine; a change from its own origin, or with no Origin (curl), is accepted.
    const read = { host, origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' };
    assert.equal((await call(app, { method: 'GET', url: '/v1/stats', headers: read })).status, 200);
    const own = { host, ...json, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' };
    assert.equal(
      (await call(app, { method: 'POST', url: '/v1/publish', headers: own, payload })).status,
      202,
    );
    assert.equal(
      (await call(app, { method: 'POST', url: '/v1/publish', headers: { host, ...json }, payload })).status,
      202,
    );
    assert.equal(calls.published.length, 2);
  });
});

describe('admin API: bearer token', () => {
  test('/v1/* needs the token (401 otherwise); probes and the dashboard stay open', async () => {
    const { app } = await adminApp(['--admin-token', 's3cret-token']);
    for (const authorization of [
      undefined,
      'Bearer',
      'Bearer wrong',
      'Basic czNjcmV0LXRva2Vu',
      's3cret-token',
    ]) {
      const headers = authorization === undefined ? {} : { authorization };
      const answer = await call(app, { method: 'GET', url: '/v1/stats', headers });
      assert.equal(answer.status, 401, String(authorization));
      assert.equal((answer.body as { error: { code: string } }).error.code, ErrorCodes.UNAUTHORIZED);
    }
    const authorization = 'Bearer s3cret-token';
    assert.equal(
      (await call(app, { method: 'GET', url: '/v1/stats', headers: { authorization } })).status,
      200,
    );
    for (const url of ['/healthz', '/readyz', '/metrics', '/dashboard']) {
      assert.equal((await call(app, { method: 'GET', url })).status, 200, url);
    }
    // Unknown /v1 routes too: without the token, nothing tells which routes exist.
    assert.equal((await call(app, { method: 'GET', url: '/v1/nothing-here' })).status, 401);
    assert.equal(
      (await call(app, { method: 'GET', url: '/v1/nothing-here', headers: { authorization } })).status,
      404,
    );
  });
});
