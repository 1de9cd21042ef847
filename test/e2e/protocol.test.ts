// The Engine.IO and Socket.IO protocols as clients in other languages speak them, on both transports, with
// raw HTTP and WebSocket clients: handshake values from the configured timeouts, heartbeat and ping
// timeout, connect timeout, recovery off, multi-argument and binary echo through a backend, HTTP error
// answers on a keep-alive connection, a second WebSocket for one session, a custom path, an exclusive port,
// and a drain that drops long-polling clients without a CLOSE packet.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ask, client, closeClients, received } from '../helpers/clients.js';
import { startFunctionServer } from '../helpers/function-server.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { suiteRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';

after(() => closeClients());

const SECRET = 'protocol-secret-0123456789';
const TIMEOUTS = ['--ping-interval', '300', '--ping-timeout', '200', '--connect-timeout', '1000'];

/** Engine.IO's handshake over long-polling: the open packet's values. */
async function openPolling(relay: RelayProcess, path = '/socket.io/') {
  const res = await fetch(`${relay.url}${path}?EIO=4&transport=polling`);
  const body = await res.text();
  assert.equal(body[0], '0', body);
  return JSON.parse(body.slice(1)) as {
    sid: string;
    upgrades: string[];
    pingInterval: number;
    pingTimeout: number;
    maxPayload: number;
  };
}

/** A raw Engine.IO WebSocket and every frame it received, in order. */
async function openWebSocket(relay: RelayProcess, query = '') {
  const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket${query}`);
  const frames: string[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const errors: Error[] = [];
  ws.on('error', (err) => errors.push(err));
  ws.on('message', (data, isBinary) =>
    frames.push(isBinary ? `<binary ${(data as Buffer).length}>` : String(data)),
  );
  await new Promise((resolve) => ws.once('open', resolve));
  return { ws, frames, closed, errors };
}

for (const transport of ['uws', 'ws'] as const) {
  describe(`protocol (${transport})`, () => {
    test('the handshake carries the configured heartbeat and payload limit; the heartbeat and its timeout hold', async (t) => {
      const relay = await startRelay(['--transport', transport, ...TIMEOUTS, '--max-payload', '100000']);
      t.after(() => relay.stop('SIGKILL'));
      const open = await openPolling(relay);
      assert.deepEqual(
        { upgrades: open.upgrades, pingInterval: open.pingInterval, pingTimeout: open.pingTimeout },
        { upgrades: ['websocket'], pingInterval: 300, pingTimeout: 200 },
      );
      assert.equal(open.maxPayload, 100000);

      // A client that answers every PING stays; one that stops is dropped within interval + timeout.
      const { ws, frames, closed } = await openWebSocket(relay);
      let answering = true;
      ws.on('message', (data) => {
        if (answering && String(data) === '2') ws.send('3');
      });
      ws.send('40');
      await waitFor('four pings answered', () => frames.filter((f) => f === '2').length >= 4, 5_000);
      assert.equal(ws.readyState, ws.OPEN, 'a client that answers stays connected');
      answering = false;
      const silentFrom = Date.now();
      await closed;
      const silentFor = Date.now() - silentFrom;
      assert.ok(silentFor <= 300 + 200 + 400, `dropped ${silentFor} ms after it stopped answering`);
    });

    test('a connection that joins no namespace is closed after --connect-timeout', async (t) => {
      const relay = await startRelay(['--transport', transport, '--connect-timeout', '500']);
      t.after(() => relay.stop('SIGKILL'));
      const started = Date.now();
      const { closed } = await openWebSocket(relay);
      await closed;
      const after = Date.now() - started;
      assert.ok(after >= 450 && after < 2_000, `closed after ${after} ms`);
    });

    test('HTTP error answers keep a keep-alive client working, and say when they close', async (t) => {
      const relay = await startRelay(['--transport', transport]);
      t.after(() => relay.stop('SIGKILL'));
      // Node's keep-alive agent reuses a socket unless the answer says `Connection: close`.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      t.after(() => agent.destroy());
      const call = (method: string, path: string, headers: Record<string, string> = {}) =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          const req = request(`${relay.url}${path}`, { method, agent, headers }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          });
          req.on('error', reject);
          req.end();
        });
      const close = { connection: 'close' };
      const answers = [
        await call('GET', '/socket.io/?EIO=4&transport=polling', close),
        await call('GET', '/socket.io/?transport=polling', close),
        await call('GET', '/socket.io/?EIO=abc&transport=polling', close),
        await call('GET', '/socket.io/?EIO=4&transport=abc', close),
        await call('PUT', '/socket.io/?EIO=4&transport=polling', close),
        await call('GET', '/socket.io/?EIO=4&transport=polling&sid=nope'),
        await call('GET', '/socket.io/?EIO=4&transport=polling'),
      ];
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 400, 400, 400, 400, 400, 200],
      );
      for (const answer of answers.slice(0, 5)) assert.equal(answer.connection, 'close');
    });

    test('a second WebSocket for an upgraded session is closed cleanly; the first one carries on', async (t) => {
      const relay = await startRelay(['--transport', transport]);
      t.after(() => relay.stop('SIGKILL'));
      const { sid } = await openPolling(relay);
      const first = await openWebSocket(relay, `&sid=${sid}`);
      first.ws.send('2probe');
      await waitFor('the probe answer', () => first.frames.includes('3probe'));
      first.ws.send('5');
      const second = new WebSocket(
        `${relay.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
      );
      const secondErrors: Error[] = [];
      second.on('error', (err) => secondErrors.push(err));
      await new Promise((resolve) => second.on('close', resolve));
      assert.deepEqual(
        secondErrors.map((e) => e.message),
        [],
      );
      // The upgraded session still works: it joins the main namespace.
      first.ws.send('40');
      await waitFor('the CONNECT answer', () => first.frames.some((f) => f.startsWith('40{')));
      assert.equal(first.errors.length, 0);
    });

    test('--path serves Engine.IO and Socket.IO under another path, and the demo page follows it', async (t) => {
      const relay = await startRelay(['--transport', transport, '--path', '/rt/']);
      t.after(() => relay.stop('SIGKILL'));
      assert.equal((await fetch(`${relay.url}/socket.io/?EIO=4&transport=polling`)).status, 404);
      const socket = await client(relay.url, { path: '/rt/', transports: ['websocket'] });
      assert.equal((await ask(socket, 'whoami')).ok, true);
      const page = await (await fetch(`${relay.url}/`)).text();
      assert.ok(page.includes('src="/rt/socket.io.js"'), 'the page loads the client bundle from the path');
      assert.equal((await fetch(`${relay.url}/rt/socket.io.js`)).status, 200);
    });
  });
}

describe('protocol with Redis and a backend', () => {
  const redis = suiteRedis();

  for (const transport of ['uws', 'ws'] as const) {
    test(`recovery off: no pid, and every event carries exactly the published arguments (${transport})`, async (t) => {
      if (!redis.server) return t.skip('redis-server is not installed');
      const relay = await startRelay([
        '--transport',
        transport,
        '--redis-url',
        redis.server.url,
        '--recovery-window',
        '0',
      ]);
      t.after(() => relay.stop('SIGKILL'));
      const { ws, frames } = await openWebSocket(relay);
      ws.send('40');
      await waitFor('the CONNECT answer', () => frames.find((f) => f.startsWith('40{')));
      const connect = JSON.parse((frames.find((f) => f.startsWith('40{')) as string).slice(2));
      assert.deepEqual(Object.keys(connect), ['sid'], 'no pid: the client cannot recover');
      ws.send('420["join","news"]');
      await waitFor('the join ack', () => frames.some((f) => f.startsWith('430')));
      const member = await client(relay.url, { transports: ['websocket'] });
      const args: unknown[][] = [];
      member.on('news', (...a: unknown[]) => args.push(a));
      assert.deepEqual(await ask(member, 'join', 'news'), { ok: true });
      assert.deepEqual(await ask(member, 'publish', { room: 'news', event: 'news', data: { n: 1 } }), {
        ok: true,
      });
      await received('the event', args, 1);
      assert.deepEqual(args, [[{ n: 1 }]], 'one argument, no trailing offset');
      await waitFor('the raw client got it', () => frames.some((f) => f.startsWith('42["news"')));
      assert.deepEqual(
        frames.filter((f) => f.startsWith('42["news"')),
        ['42["news",{"n":1}]'],
      );
      const keys = (await redis.client.keys('relay:session:*')).length;
      assert.equal(keys, 0, 'nothing persisted');
    });

    test(`a backend echoes every argument, binary included, and acks with binary (${transport})`, async (t) => {
      if (!redis.server) return t.skip('redis-server is not installed');
      const fn = await startFunctionServer(SECRET, (call, reply) => {
        if (call.type !== 'event') return reply(200, {});
        if (call.event === 'message')
          return reply(200, { emit: [{ event: 'message-back', args: call.args }] });
        return reply(200, { ack: call.args });
      });
      t.after(() => fn.close());
      const config = writeConfig({
        namespaces: {
          '/': { join: ['*'], publish: ['*'], upstream: { http: { url: fn.url, secret: SECRET } } },
        },
      });
      const relay = await startRelay([
        '--transport',
        transport,
        '--redis-url',
        redis.server.url,
        '--config',
        config,
        '--recovery-window',
        '0',
      ]);
      t.after(() => relay.stop('SIGKILL'));
      const socket = await client(relay.url, { transports: ['websocket'] });
      const back: unknown[][] = [];
      socket.on('message-back', (...a: unknown[]) => back.push(a));
      socket.emit('message', 1, 'two', Buffer.from([1, 2, 3]), { nested: Buffer.from('hi') });
      await received('the echo', back, 1);
      const echo = back[0] as unknown[];
      assert.equal(echo.length, 4, JSON.stringify(echo));
      assert.deepEqual(echo.slice(0, 2), [1, 'two']);
      assert.deepEqual([...(echo[2] as Buffer)], [1, 2, 3]);
      assert.equal(Buffer.from((echo[3] as { nested: Buffer }).nested).toString(), 'hi');
      const acked = (await socket
        .timeout(5_000)
        .emitWithAck('message-with-ack', Buffer.from([9]), 'x')) as unknown;
      assert.deepEqual([...(acked as Buffer)], [9]);
      const call = fn.calls.find((c) => c.type === 'event' && c.event === 'message');
      const args = (call as { args: unknown[] }).args;
      assert.deepEqual(args[2], { $binary: Buffer.from([1, 2, 3]).toString('base64') });
    });
  }
});

describe('listening', () => {
  test('a second uws relay on a bound port exits with RLY_ERR_LISTEN instead of sharing the port', async (t) => {
    const port = await freePort();
    const first = await startRelay(['--transport', 'uws', '--port', String(port)]);
    t.after(() => first.stop('SIGKILL'));
    await assert.rejects(
      startRelay(['--transport', 'uws', '--port', String(port)]),
      /exited with 1 before listening.*RLY_ERR_LISTEN/,
    );
  });
});

describe('graceful drain and long-polling clients', () => {
  for (const transport of ['uws', 'ws'] as const) {
    test(`a waiting poll is cut, not answered with a CLOSE packet, so every client reconnects (${transport})`, async (t) => {
      const relay = await startRelay(['--transport', transport]);
      t.after(() => relay.stop('SIGKILL'));
      const { sid } = await openPolling(relay);
      const base = `${relay.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      await fetch(base, { method: 'POST', body: '40' });
      assert.ok((await (await fetch(base)).text()).startsWith('40{'));
      // The next poll waits; the drain comes while it does.
      const poll = fetch(base).then(
        async (res) => ({ status: res.status, body: await res.text().catch(() => '') }),
        (err: Error) => ({ status: 0, body: String(err.cause ?? err) }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await fetch(`${relay.adminUrl}/v1/drain`, { method: 'POST' });
      const answer = await poll;
      assert.ok(
        !answer.body.split('\x1e').includes('1'),
        `the poll got a CLOSE packet: ${JSON.stringify(answer)}`,
      );
      assert.equal(await relay.exited(), 0);
    });
  }
});
