// Real HAProxy and nginx in front of three relay instances over a real Redis, with the configs from infra/:
// long-polling stays on one instance (stickiness), a rolling restart under a steady publisher loses and
// duplicates nothing for any client, and a client whose instance is SIGKILLed recovers on another one.
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'socket.io-client';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { LB_COMMAND, type LoadBalancer, type LoadBalancerKind, startLoadBalancer } from '../helpers/lb.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

type Seq = { n: number };

const ROOM = 'ticker';
const CLIENTS = 51;
/** nginx hashes the client address: spread the clients over 127.0.0.2 .. 127.0.0.11. */
const SOURCE_ADDRESSES = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 2}`);
/** Publisher pace: one message every 20 ms (~50 msg/s). */
const PUBLISH_EVERY_MS = 20;
/** Upper bound on the publisher, whatever happens (60 s at 50 msg/s). */
const MAX_MESSAGES = 3_000;

/** LB_DEBUG=1: a timeline of the rolling restart and the load balancer's logs (nginx: access log too). */
function debug(...what: unknown[]): void {
  if (process.env.LB_DEBUG) console.log(new Date().toISOString(), ...what);
}

interface Instance {
  name: string;
  port: number;
  adminPort: number;
  args: string[];
  relay: RelayProcess;
}

/**
 * Three relays in cluster mode on fixed ports, so each comes back on the same ports after a restart. If
 * one fails to start, the others are stopped: left running, they would hold the test process open.
 */
async function startInstances(redis: RedisServer, prefix: string): Promise<Instance[]> {
  const started = await Promise.allSettled(
    [1, 2, 3].map(async (i) => {
      const name = `${prefix}-${i}`;
      const [port, adminPort] = [await freePort(), await freePort()];
      const args = [
        '--redis-url',
        redis.url,
        '--instance-id',
        name,
        '--port',
        String(port),
        '--admin-port',
        String(adminPort),
        // ~17 clients per instance closed over about a second: the drain is spread, not a burst, while
        // the load balancer moves them and the publisher keeps going.
        '--drain-rate',
        '20',
      ];
      return { name, port, adminPort, args, relay: await startRelay(args) };
    }),
  );
  const instances = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (!failed) return instances;
  await Promise.all(instances.map((instance) => instance.relay.stop('SIGKILL')));
  throw failed.reason;
}

async function isReady(instance: Instance): Promise<boolean> {
  try {
    return (await fetch(`${instance.relay.adminUrl}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

async function adminPublish(instance: Instance, n: number): Promise<void> {
  const res = await fetch(`${instance.relay.adminUrl}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: ROOM, event: 'seq', data: { n } }),
  });
  assert.equal(res.status, 202, `publish ${n} through ${instance.name}: ${await res.text()}`);
}

async function startBalancer(kind: LoadBalancerKind, instances: Instance[]): Promise<LoadBalancer> {
  const lb = await startLoadBalancer(
    kind,
    instances.map(({ name, port, adminPort }) => ({ name, host: '127.0.0.1', port, adminPort })),
  );
  await waitUntilInRotation(lb, instances);
  return lb;
}

/**
 * HAProxy: until its health check (/readyz on the admin port) reports every instance UP. nginx keeps no
 * server state (no active checks, max_fails=0): the next connection hashed to a listening instance uses it.
 */
async function waitUntilInRotation(lb: LoadBalancer, instances: Instance[]): Promise<void> {
  if (lb.kind === 'haproxy') {
    for (const instance of instances) await lb.waitServerUp(instance.name);
  }
}

/** A tracked client: every `seq` payload, and how each reconnect went. */
interface Tracked {
  label: string;
  socket: Socket;
  seq: number[];
  reconnects: number;
  recovered: number;
  /** `instance(R|F)@last message before` for every reconnect (R: recovered, F: fresh session). */
  moves: string[];
  agent: Agent | undefined;
}

/**
 * A client through the load balancer. HAProxy's stickiness is a cookie: socket.io-client keeps cookies in
 * Node only with `withCredentials: true`. nginx hashes the source address, so clients bind to `address`.
 */
async function lbClient(
  lb: LoadBalancer,
  label: string,
  transports: string[],
  address: string | undefined,
): Promise<Tracked> {
  // engine.io-client hands `agent` to both the polling requests and the WebSocket (its typings say
  // string | boolean, the Node transports take an http.Agent).
  const agent = address ? new Agent({ localAddress: address }) : undefined;
  const socket = await client(lb.url, {
    transports,
    withCredentials: true,
    ...(agent ? { agent: agent as unknown as string } : {}),
  });
  const tracked: Tracked = { label, socket, seq: [], reconnects: 0, recovered: 0, moves: [], agent };
  socket.on('seq', (data: Seq) => tracked.seq.push(data.n));
  socket.on('disconnect', (reason) => tracked.moves.push(`[${reason}@${tracked.seq.at(-1)}]`));
  socket.on('connect', () => {
    tracked.reconnects++;
    const before = tracked.seq.at(-1);
    socket.emit('whoami', (me: { instanceId: string }) =>
      tracked.moves.push(`${me.instanceId}(${socket.recovered ? 'R' : 'F'})@${before}`),
    );
    if (socket.recovered) tracked.recovered++;
    // What an application does after a failed recovery; the gap then shows up as lost messages.
    else socket.emit('join', ROOM);
  });
  return tracked;
}

function closeTracked(clients: Tracked[]): void {
  for (const c of clients) {
    c.socket.disconnect();
    c.agent?.destroy();
  }
}

/** Lost, duplicated and out-of-order counts against exactly 0..last, once each, in order. */
function audit(
  seq: number[],
  last: number,
): { lost: number; duplicated: number; outOfOrder: number; detail: string } {
  const seen = new Map<number, number>();
  for (const n of seq) seen.set(n, (seen.get(n) ?? 0) + 1);
  let lost = 0;
  let duplicated = 0;
  for (let n = 0; n <= last; n++) {
    const times = seen.get(n) ?? 0;
    if (times === 0) lost++;
    else duplicated += times - 1;
  }
  duplicated += seq.filter((n) => n < 0 || n > last).length;
  let outOfOrder = 0;
  const where: string[] = [];
  for (let i = 1; i < seq.length; i++) {
    if ((seq[i] as number) <= (seq[i - 1] as number)) {
      outOfOrder++;
      if (where.length < 3) where.push(seq.slice(Math.max(0, i - 3), i + 3).join(','));
    }
  }
  const missing: number[] = [];
  for (let n = 0; n <= last && missing.length < 10; n++) if (!seen.has(n)) missing.push(n);
  const detail = [
    missing.length ? `missing ${missing.join(',')}` : '',
    where.length ? `around ${where.join(' | ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return { lost, duplicated, outOfOrder, detail };
}

/**
 * Publishes 1, 2, 3... through one instance's admin port, one at a time, every PUBLISH_EVERY_MS.
 * `moveTo` changes the instance without reordering the stream: it pauses, waits until a client has
 * received the last message published through the old instance (so Redis has it), then resumes.
 */
function startPublisher(first: Instance, clients: Tracked[]) {
  let target = first;
  let published = 0;
  let stopped = false;
  let gate: Promise<void> = Promise.resolve();
  let inflight: Promise<void> = Promise.resolve();
  const startedAt = Date.now();
  const done = (async () => {
    while (!stopped && published < MAX_MESSAGES) {
      await sleep(Math.max(0, startedAt + (published + 1) * PUBLISH_EVERY_MS - Date.now()));
      await gate;
      if (stopped) break;
      const n = published + 1;
      inflight = adminPublish(target, n);
      await inflight;
      published = n;
    }
  })();
  const landed = (n: number) =>
    waitFor(`message ${n} to reach a client`, () => n === 0 || clients.some((c) => c.seq.includes(n)));
  return {
    get published() {
      return published;
    },
    get target() {
      return target;
    },
    async moveTo(next: Instance) {
      let release: () => void = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      try {
        await inflight;
        await landed(published);
        target = next;
      } finally {
        release();
      }
    },
    async stop() {
      stopped = true;
      await done;
      return published;
    },
  };
}

for (const kind of ['haproxy', 'nginx'] as const) {
  describe(`behind ${kind}`, () => {
    let redis: RedisServer | undefined;
    let instances: Instance[] = [];
    let lb: LoadBalancer | undefined;
    // HAProxy sticks by cookie: every client may come from 127.0.0.1. nginx sticks by source address.
    const addressOf = (i: number) =>
      kind === 'nginx' ? SOURCE_ADDRESSES[i % SOURCE_ADDRESSES.length] : undefined;

    before(async () => {
      if (!toolAvailable('redis-server') || !toolAvailable(LB_COMMAND[kind])) return;
      redis = await startRedis();
      instances = await startInstances(redis, kind);
      lb = await startBalancer(kind, instances);
    });
    after(async () => {
      closeClients();
      await lb?.stop();
      for (const instance of instances) await instance.relay.stop('SIGKILL');
      await redis?.stop();
    });

    test('long-polling clients stay on the instance that holds their session', async (t) => {
      if (!redis || !lb) return t.skip(`redis-server or ${kind} is not installed`);
      const clients: Tracked[] = [];
      t.after(() => closeTracked(clients));
      for (let i = 0; i < 6; i++) clients.push(await lbClient(lb, `poller-${i}`, ['polling'], addressOf(i)));
      const before = await Promise.all(clients.map(async (c) => (await ask(c.socket, 'whoami')).instanceId));
      for (const c of clients) assert.deepEqual(await ask(c.socket, 'join', ROOM), { ok: true });
      // Every message is at least one more long-polling round trip per client.
      for (let n = 0; n < 10; n++) await adminPublish(instances[0] as Instance, n);
      for (const c of clients) await received(`${c.label} messages`, c.seq, 10);
      const afterwards = await Promise.all(
        clients.map(async (c) => (await ask(c.socket, 'whoami')).instanceId),
      );
      for (const [i, c] of clients.entries()) {
        assert.deepEqual(
          c.seq,
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
          `${c.label} got every message once, in order`,
        );
        assert.equal(c.reconnects, 0, `${c.label} never lost its session`);
        assert.equal(c.socket.io.engine.transport.name, 'polling');
        assert.equal(afterwards[i], before[i], `${c.label} stayed on one instance`);
      }
      if (kind === 'haproxy') {
        // Round robin spreads new sessions: the cookie, not luck, keeps each one in place.
        assert.ok(new Set(before).size > 1, `sessions spread over instances: ${before.join(', ')}`);
      }
    });

    test('rolling restart under a steady publisher: every client gets every message exactly once, in order', async (t) => {
      if (!redis || !lb) return t.skip(`redis-server or ${kind} is not installed`);
      const balancer = lb;
      const clients: Tracked[] = [];
      t.after(() => closeTracked(clients));
      // Every third client starts on long-polling (and upgrades); the others are WebSocket-only.
      for (let batch = 0; batch < CLIENTS; batch += 10) {
        const created = await Promise.all(
          Array.from({ length: Math.min(10, CLIENTS - batch) }, (_, j) => {
            const i = batch + j;
            const transports = i % 3 === 0 ? ['polling', 'websocket'] : ['websocket'];
            return lbClient(balancer, `client-${i}(${transports.join('+')})`, transports, addressOf(i));
          }),
        );
        clients.push(...created);
      }
      for (const c of clients) assert.deepEqual(await ask(c.socket, 'join', ROOM), { ok: true });
      const placement = new Map<string, number>();
      for (const c of clients) {
        const { instanceId } = await ask<{ instanceId: string }>(c.socket, 'whoami');
        placement.set(instanceId, (placement.get(instanceId) ?? 0) + 1);
      }

      // Message 0: every client holds a recovery offset before anything restarts.
      await adminPublish(instances[0] as Instance, 0);
      for (const c of clients) await received(`${c.label} first message`, c.seq, 1);

      const publisher = startPublisher(instances[0] as Instance, clients);
      const restartedAt: number[] = [];
      const targets: string[] = [];
      try {
        await sleep(1_000);
        for (const [i, instance] of instances.entries()) {
          // Publish through an instance that is not the one restarting.
          await publisher.moveTo(instances[(i + 1) % instances.length] as Instance);
          targets.push(`${publisher.target.name} from ${publisher.published + 1}`);
          debug('SIGTERM', instance.name, `publisher at ${publisher.published}`);
          assert.equal(await instance.relay.stop('SIGTERM'), 0, `${instance.name} drains and exits 0`);
          debug('exited', instance.name);
          instance.relay = await startRelay(instance.args);
          await waitFor(`${instance.name} ready`, () => isReady(instance));
          await waitUntilInRotation(balancer, [instance]);
          restartedAt.push(publisher.published);
          debug('in rotation again', instance.name, `publisher at ${publisher.published}`);
          await waitFor(
            'every client connected again',
            () => clients.every((c) => c.socket.connected),
            15_000,
          );
        }
        await sleep(1_000);
      } finally {
        await publisher.stop();
      }
      const last = publisher.published;

      // Bounded wait for the tail; whatever is missing then is reported below, not waited for.
      await waitFor(
        'every client to receive the last message',
        () => clients.every((c) => c.seq.includes(last)),
        15_000,
      ).catch(() => undefined);
      await sleep(200); // anything arriving twice right after the last message shows up as a duplicate

      const results = clients.map((c) => ({ c, ...audit(c.seq, last) }));
      const lost = results.reduce((sum, r) => sum + r.lost, 0);
      const duplicated = results.reduce((sum, r) => sum + r.duplicated, 0);
      const reconnects = clients.reduce((sum, c) => sum + c.reconnects, 0);
      const recovered = clients.reduce((sum, c) => sum + c.recovered, 0);
      console.log(
        `${kind} rolling restart: ${clients.length} clients × ${last} messages, lost ${lost}, duplicated ${duplicated}, recovered reconnects ${recovered}/${reconnects} (placement ${[...placement].map(([id, n]) => `${id}:${n}`).join(' ')}; restarted by message ${restartedAt.join(', ')}; publisher ${targets.join(', ')})`,
      );
      const bad = results.filter((r) => r.lost || r.duplicated || r.outOfOrder);
      debug(`${kind} output:\n${balancer.output()}`);
      assert.deepEqual(
        bad.map(
          (r) =>
            `${r.c.label}: lost ${r.lost}, duplicated ${r.duplicated}, out of order ${r.outOfOrder}, reconnects ${r.c.reconnects} (recovered ${r.c.recovered}): ${r.detail}; moves ${r.c.moves.join(' ')}`,
        ),
        [],
        `${bad.length} of ${clients.length} clients did not get 0..${last} exactly once in order (lost ${lost}, duplicated ${duplicated} in total)`,
      );
      // Every instance restarted, so every client was moved at least once.
      for (const c of clients) assert.ok(c.reconnects >= 1, `${c.label} reconnected at least once`);
    });
  });
}

describe('crash behind haproxy', () => {
  let redis: RedisServer | undefined;
  let instances: Instance[] = [];
  let lb: LoadBalancer | undefined;
  before(async () => {
    if (!toolAvailable('redis-server') || !toolAvailable('haproxy')) return;
    redis = await startRedis();
    instances = await startInstances(redis, 'crash');
    lb = await startBalancer('haproxy', instances);
  });
  after(async () => {
    closeClients();
    await lb?.stop();
    for (const instance of instances) await instance.relay.stop('SIGKILL');
    await redis?.stop();
  });

  test('crash, reconnect through the LB to a different instance, recovers', async (t) => {
    if (!redis || !lb) return t.skip('redis-server or haproxy is not installed');
    const socket = await client(lb.url, { withCredentials: true });
    const news = collect<Seq>(socket, 'seq');
    assert.deepEqual(await ask(socket, 'join', ROOM), { ok: true });
    await adminPublish(instances[0] as Instance, 0);
    await received('first message', news, 1);
    const { instanceId: holder, socketId } = await ask<{ instanceId: string; socketId: string }>(
      socket,
      'whoami',
    );
    const victim = instances.find((i) => i.name === holder);
    assert.ok(victim, `the client is on one of the instances (${holder})`);
    const survivor = instances.find((i) => i !== victim) as Instance;

    let reconnected = false;
    socket.once('connect', () => {
      reconnected = true;
    });
    assert.equal(await victim.relay.stop('SIGKILL'), 'SIGKILL');
    for (let n = 1; n <= 20; n++) await adminPublish(survivor, n);

    await waitFor('the client to reconnect through the load balancer', () => reconnected);
    const me = await ask<{ instanceId: string; recovered: boolean }>(socket, 'whoami');
    assert.notEqual(me.instanceId, holder, 'reconnected to another instance');
    assert.equal(
      socket.recovered,
      true,
      `the client recovered its session on ${me.instanceId} after ${holder} was killed (socket id ${socketId} → ${socket.id})`,
    );
    assert.equal(socket.id, socketId, 'the socket id is kept');
    await received('the 20 messages published during the crash', news, 21);
    await adminPublish(survivor, 21);
    await received('a live message after recovery', news, 22);
    assert.deepEqual(
      news.map((m) => m.n),
      Array.from({ length: 22 }, (_, i) => i),
    );
  });
});
