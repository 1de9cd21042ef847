// The demo chat page and the admin dashboard in real headless Chromium, on two instances (uws and ws)
// over a real Redis: pages on different instances chat, a page recovers across its instance's restart,
// the dashboard follows the cluster live, drains an instance and disconnects a socket, and asks for the
// admin token; signed-in pages list who is in the room, and the dashboard counts them. Screenshots go to
// test-artifacts/pages/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { Browser } from 'playwright-core';
import { adminPublish } from '../helpers/admin.js';
import {
  launchChromium,
  openPage,
  type PageProblem,
  unexpectedProblems,
  type WatchedPage,
} from '../helpers/browser.js';
import { ask, client, closeClients } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay, writeConfig } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/pages/', import.meta.url));
const ROOM = 'pages';
/** Heartbeats come every 5 s: the dashboard may lag that much behind an instance. */
const DASHBOARD_LAG_MS = 15_000;

async function screenshot(watched: WatchedPage, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await watched.page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

function waitForState(watched: WatchedPage, state: string, timeoutMs = 20_000): Promise<unknown> {
  return watched.page.waitForSelector(`#state[data-state="${state}"]`, { timeout: timeoutMs });
}

/** The chat lines in a demo page's `#log`, as "from: text". */
async function chatLines(watched: WatchedPage): Promise<string[]> {
  const lines = watched.page.locator('#log .line.chat');
  const from = await lines.locator('.from').allTextContents();
  const text = await lines.locator('.text').allTextContents();
  return from.map((who, i) => `${who}: ${text[i]}`);
}

async function waitForChat(watched: WatchedPage, n: number): Promise<string[]> {
  return waitFor(`${n} chat lines`, async () => {
    const lines = await chatLines(watched);
    return lines.length >= n ? lines : undefined;
  });
}

async function say(watched: WatchedPage, text: string, how: 'enter' | 'click'): Promise<void> {
  await watched.page.fill('#message', text);
  if (how === 'enter') await watched.page.press('#message', 'Enter');
  else await watched.page.click('#send');
}

const text = async (watched: WatchedPage, selector: string) =>
  ((await watched.page.textContent(selector)) ?? '').trim();

/** Waits until a demo page's member list shows exactly `expected`, one "user n socket(s)" per member. */
async function waitForMembers(watched: WatchedPage, expected: string[], timeoutMs?: number): Promise<void> {
  let shown: string[] = [];
  const items = watched.page.locator('#members li');
  await waitFor(
    `members ${expected.join(', ')}`,
    async () => {
      shown = (await items.allTextContents()).map((item) => item.trim());
      return JSON.stringify(shown) === JSON.stringify(expected);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the list shows ${JSON.stringify(shown)}`);
  });
}

/** Waits until the dashboard shows `expected` in `selector`. */
function waitForDashboard(dashboard: WatchedPage, selector: string, expected: string): Promise<unknown> {
  return waitFor(
    `dashboard ${selector} = ${expected}`,
    async () =>
      (await dashboard.page.locator(selector).count()) > 0 && (await text(dashboard, selector)) === expected,
    DASHBOARD_LAG_MS,
  );
}

describe('demo page and dashboard in headless Chromium', () => {
  let redis: RedisServer | undefined;
  let browser: Browser | undefined;
  let a: RelayProcess;
  let b: RelayProcess;
  let bArgs: string[];
  const pages: WatchedPage[] = [];
  const open = async (url: string, viewport?: { width: number; height: number }) => {
    const watched = await openPage(browser as Browser, url, viewport);
    pages.push(watched);
    return watched;
  };
  /** B's planned outage: connection errors its pages log while B restarts are expected, nothing else. */
  const outage = { port: 0, from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const duringOutage = (problem: PageProblem) =>
    problem.kind === 'console' &&
    problem.at >= outage.from &&
    problem.at <= outage.to &&
    (problem.url === '' || problem.url.includes(`:${outage.port}/`)) &&
    /net::ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/.test(problem.text);

  let alice: WatchedPage;
  let bob: WatchedPage;
  let carol: WatchedPage;
  let dashboard: WatchedPage;

  before(async () => {
    if (!toolAvailable('redis-server') || !toolAvailable('chromium')) return;
    redis = await startRedis();
    const bPort = await freePort();
    bArgs = [
      '--redis-url',
      redis.url,
      '--transport',
      'ws',
      '--instance-id',
      'relay-b',
      '--port',
      String(bPort),
    ];
    [a, b, browser] = await Promise.all([
      startRelay(['--redis-url', redis.url, '--transport', 'uws', '--instance-id', 'relay-a']),
      startRelay(bArgs),
      launchChromium(),
    ]);
    outage.port = bPort;
  });
  after(async () => {
    await browser?.close();
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await redis?.stop();
  });

  test('both transports serve the page and the Socket.IO client bundle themselves', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    for (const relay of [a, b]) {
      const page = await fetch(`${relay.url}/?room=x`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script src="\/socket\.io\/socket\.io\.js"><\/script>/);
      const bundle = await fetch(`${relay.url}/socket.io/socket.io.js`);
      assert.equal(bundle.status, 200, relay.url);
      assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
      assert.match(await bundle.text(), /Socket\.IO v4/);
    }
  });

  test('two pages on two instances exchange typed messages', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    // The dashboard watches from here on, so it sees the recovery below.
    dashboard = await open(`${a.adminUrl}/dashboard`, { width: 1200, height: 900 });
    alice = await open(`${a.url}/?room=${ROOM}&name=alice`);
    bob = await open(`${b.url}/?room=${ROOM}&name=bob`);
    await Promise.all([waitForState(alice, 'connected'), waitForState(bob, 'connected')]);
    assert.equal(await text(alice, '#instance'), 'relay-a');
    assert.equal(await text(bob, '#instance'), 'relay-b');
    assert.match(await text(alice, '#transport'), /^uws · /);
    assert.match(await text(bob, '#transport'), /^ws · /);
    assert.equal(await text(alice, '#room'), ROOM);
    // Without a presence policy for the room the member list says so (the relay answers BAD_REQUEST).
    await alice.page.waitForSelector('#members[data-state="off"]', { state: 'attached' });
    assert.equal(await text(alice, '#members-note'), 'presence is off for this room');

    await say(alice, 'hello from alice', 'enter');
    await waitForChat(bob, 1);
    await say(bob, 'hi alice, bob here', 'click');
    const expected = ['alice: hello from alice', 'bob: hi alice, bob here'];
    assert.deepEqual(await waitForChat(alice, 2), expected);
    assert.deepEqual(await waitForChat(bob, 2), expected);
    assert.equal(await alice.page.inputValue('#message'), '', 'the input is cleared after sending');
    await screenshot(alice, 'demo-page');
  });

  test('a page shows "recovered" after its instance restarts, with the message it missed', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    // bob has received broadcasts, so his client holds an offset to recover from.
    outage.from = Date.now();
    assert.equal(await b.stop('SIGTERM'), 0, 'relay-b drains and exits 0');
    await waitForState(bob, 'reconnecting');
    await say(alice, 'sent while relay-b was down', 'enter');
    await waitForChat(alice, 3);

    b = await startRelay(bArgs);
    await waitForState(bob, 'recovered');
    outage.to = Date.now();
    assert.equal(await bob.page.getAttribute('#recovered', 'data-recovered'), 'yes');
    await waitFor('whoami after recovery', async () => (await text(bob, '#instance')) === 'relay-b');
    const lines = await waitForChat(bob, 3);
    assert.deepEqual(lines, [
      'alice: hello from alice',
      'bob: hi alice, bob here',
      'alice: sent while relay-b was down',
    ]);

    // Still in the room after recovery, both ways.
    await say(bob, 'back again', 'enter');
    assert.deepEqual((await waitForChat(alice, 4)).at(-1), 'bob: back again');
    await waitForChat(bob, 4);
    await screenshot(bob, 'demo-page-recovered');
  });

  test('the dashboard lists both instances, counts a third page and charts messages and recoveries', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    const row = (id: string) => `#instances tr[data-instance-id="${id}"]`;
    await waitForDashboard(dashboard, `${row('relay-a')} td.connections`, '1');
    await waitForDashboard(dashboard, `${row('relay-b')} td.connections`, '1');
    assert.match(await text(dashboard, `${row('relay-a')} td.id`), /this dashboard/);
    assert.equal(await text(dashboard, `${row('relay-a')} td.transport`), 'uws · streams');
    assert.equal(await text(dashboard, `${row('relay-b')} td.transport`), 'ws · streams');
    assert.equal(await text(dashboard, `${row('relay-b')} td.state`), 'serving');
    // bob's recovery happened on the restarted relay-b while the dashboard watched.
    await waitForDashboard(dashboard, '#recoveries-window', '1');

    carol = await open(`${a.url}/?room=${ROOM}&name=carol`);
    await waitForState(carol, 'connected');
    await waitForDashboard(dashboard, `${row('relay-a')} td.connections`, '2');
    await waitForDashboard(dashboard, '#total-connections', '3');
    await waitForDashboard(dashboard, '#total-instances', '2');
    const room = `#rooms tr[data-room="${ROOM}"]`;
    await waitForDashboard(dashboard, `${room} td.members`, '3');
    assert.equal(await text(dashboard, `${room} td.instances`), '2');

    // Traffic for the messages chart: ~20 publishes/s for a few seconds.
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 6_000) {
      await adminPublish(a, { room: ROOM, event: 'chat', data: { from: 'ops', text: `tick ${++n}` } });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor(
      'a messages/s rate above 0',
      async () => Number(await text(dashboard, '#rate-messages')) > 0,
      DASHBOARD_LAG_MS,
    );
    assert.equal(await dashboard.page.locator('#chart-messages polyline').count(), 1);
    await screenshot(dashboard, 'dashboard');
  });

  test('the dashboard drains another instance through the cluster, after a confirmation', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    // bob's relay goes away for good: close his page first, so it does not keep reconnecting.
    await bob.page.close();
    const drainRequests: string[] = [];
    dashboard.page.on('request', (request) => {
      if (request.url().endsWith('/drain')) drainRequests.push(`${request.method()} ${request.url()}`);
    });
    const drainButton = dashboard.page.locator('#instances tr[data-instance-id="relay-b"] button.drain');
    await drainButton.click();
    await dashboard.page.waitForSelector('#confirm[open]');
    assert.match(await text(dashboard, '#confirm-text'), /Drain relay-b\?/);
    await dashboard.page.click('#confirm-cancel');
    await dashboard.page.waitForSelector('#confirm', { state: 'hidden' });
    assert.deepEqual(drainRequests, [], 'cancel sends nothing');

    await drainButton.click();
    await dashboard.page.click('#confirm-ok');
    assert.equal(await b.exited(), 0, 'relay-b drains on request from relay-a and exits 0');
    assert.deepEqual(drainRequests, [`POST ${a.adminUrl}/v1/instances/relay-b/drain`]);
    await dashboard.page.locator('#notice', { hasText: 'Drain of relay-b started.' }).waitFor();
    await waitFor(
      'relay-b to leave the dashboard',
      async () => (await dashboard.page.locator('#instances tr[data-instance-id="relay-b"]').count()) === 0,
      DASHBOARD_LAG_MS,
    );

    const missing = await fetch(`${a.adminUrl}/v1/instances/relay-b/drain`, { method: 'POST' });
    assert.equal(missing.status, 404);
    assert.equal(
      ((await missing.json()) as { error: { code: string } }).error.code,
      'RLY_ERR_INSTANCE_NOT_FOUND',
    );
  });

  test('the dashboard disconnects a socket of a room, after a confirmation', async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    const carolId = await text(carol, '#socket-id');
    await dashboard.page.click(`#rooms tr[data-room="${ROOM}"] button.sockets`);
    assert.match(carolId, /^[\w-]{20}$/, 'carol shows her socket id');
    const item = dashboard.page.locator(`#room-sockets-list li[data-socket-id="${carolId}"]`);
    // A failed listing shows an error notice instead of the list: fail with what it says.
    await waitFor(`carol's socket in the room list`, async () => {
      if ((await dashboard.page.getAttribute('#notice', 'data-kind')) === 'error') {
        throw new Error(`the dashboard reported: ${await text(dashboard, '#notice')}`);
      }
      return (await item.count()) === 1;
    });
    await item.locator('button.disconnect').click();
    assert.match(await text(dashboard, '#confirm-text'), new RegExp(`Disconnect socket ${carolId}`));
    await dashboard.page.click('#confirm-ok');
    await waitForState(carol, 'disconnected');
    assert.match(await text(carol, '#state'), /io server disconnect/);
    await item.waitFor({ state: 'detached' });
    assert.equal(await text(alice, '#state'), 'connected', 'the other socket of the room stays');
  });

  test('no page reported an error', (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    for (const watched of pages)
      assert.equal(unexpectedProblems(watched, duringOutage), '', watched.page.url());
  });
});

describe('presence on the demo page and the dashboard', () => {
  const SECRET = 'pages-presence-secret-0123456789';
  const TEAM = 'chat:team';
  let redis: RedisServer | undefined;
  let browser: Browser | undefined;
  let a: RelayProcess;
  let b: RelayProcess;

  before(async () => {
    if (!toolAvailable('redis-server') || !toolAvailable('chromium')) return;
    redis = await startRedis();
    const config = writeConfig({
      namespaces: { '/': { join: ['*'], publish: ['*'], presence: ['chat:*'] } },
    });
    const common = ['--redis-url', redis.url, '--jwt-secret', SECRET, '--config', config];
    [a, b, browser] = await Promise.all([
      startRelay([...common, '--transport', 'uws', '--instance-id', 'relay-a']),
      startRelay([...common, '--transport', 'ws', '--instance-id', 'relay-b']),
      launchChromium(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await redis?.stop();
  });

  test("a page's member list follows a second page that joins and leaves; the dashboard counts the users", async (t) => {
    if (!redis) return t.skip('redis-server or chromium is not installed');
    const signedIn = async (relay: RelayProcess, sub: string) => {
      const token = await new SignJWT({ sub })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
      const watched = await openPage(browser as Browser, `${relay.url}/?room=${TEAM}&token=${token}`);
      await waitForState(watched, 'connected');
      return watched;
    };
    const dashboard = await openPage(browser as Browser, `${a.adminUrl}/dashboard`, {
      width: 1200,
      height: 900,
    });
    const present = `#rooms tr[data-room="${TEAM}"] td.present`;

    const alice = await signedIn(a, 'alice');
    await waitForMembers(alice, ['alice 1 socket']);
    assert.equal(await text(alice, '#me'), 'alice', 'named after her user');
    assert.equal(await alice.page.getAttribute('#members li[data-user="alice"]', 'class'), 'me');
    assert.equal(await alice.page.isHidden('#members-note'), true, 'no note: she is signed in');

    const bob = await signedIn(b, 'bob');
    assert.match(await text(bob, '#transport'), /^ws · /);
    await Promise.all([
      waitForMembers(alice, ['alice 1 socket', 'bob 1 socket']),
      waitForMembers(bob, ['alice 1 socket', 'bob 1 socket']),
    ]);
    assert.equal(await text(alice, '#members-count'), '(2)');
    await waitForDashboard(dashboard, present, '2');
    // A room that keeps no presence (alice's own user room) has no count.
    await waitForDashboard(dashboard, '#rooms tr[data-room="user:alice"] td.present', '–');
    await screenshot(alice, 'demo-page-members');
    await screenshot(dashboard, 'dashboard-presence');

    // The closed page disconnects as it goes: bob leaves at once, not after the recovery window.
    const closedAt = Date.now();
    await bob.page.close();
    await waitForMembers(alice, ['alice 1 socket'], 5_000);
    t.diagnostic(`bob left alice's list ${Date.now() - closedAt} ms after his page closed`);
    await waitForDashboard(dashboard, present, '1');

    for (const watched of [alice, bob, dashboard])
      assert.equal(unexpectedProblems(watched), '', watched.page.url());
  });
});

describe('dashboard with --admin-token', () => {
  test('asks for the token, keeps it in memory only, and works with it', async (t) => {
    if (!toolAvailable('chromium')) return t.skip('chromium is not installed');
    const token = 'pages-test-token-5f2c';
    const relay = await startRelay(['--admin-token', token, '--instance-id', 'solo']);
    const browser = await launchChromium();
    t.after(async () => {
      await browser.close();
      await relay.stop('SIGKILL');
    });
    const dashboard = await openPage(browser, `${relay.adminUrl}/dashboard`);
    await dashboard.page.waitForSelector('#auth[open]');
    await dashboard.page.fill('#token', token);
    await dashboard.page.click('#token-submit');
    await waitForDashboard(dashboard, '#instances tr[data-instance-id="solo"] td.state', 'serving');
    assert.equal(await dashboard.page.evaluate('localStorage.length + sessionStorage.length'), 0);
    assert.equal(await dashboard.page.evaluate('document.cookie'), '');
    assert.ok(!dashboard.page.url().includes(token), 'not in the URL');
    assert.ok(!(await dashboard.page.content()).includes(token), 'not left in the DOM');
    assert.equal(unexpectedProblems(dashboard), '');

    // A wrong token is refused and asked for again (the 401 is the one expected console error).
    const wrong = await openPage(browser, `${relay.adminUrl}/dashboard`);
    await wrong.page.fill('#token', 'not-the-token');
    await wrong.page.click('#token-submit');
    await wrong.page.waitForSelector('#auth-error:not([hidden])');
    assert.equal(await text(wrong, '#status'), 'admin token required');
    assert.equal(
      unexpectedProblems(wrong, (p) => /status of 401/.test(p.text)),
      '',
    );
    await screenshot(wrong, 'dashboard-token');
  });
});

describe('admin API against hostile pages', () => {
  test('a page of another origin cannot drain or publish; a rebound name cannot read or drain', async (t) => {
    if (!toolAvailable('chromium')) return t.skip('chromium is not installed');
    const relay = await startRelay(['--instance-id', 'target']);
    const browser = await launchChromium(['--host-resolver-rules=MAP rebound.test 127.0.0.1']);
    t.after(async () => {
      closeClients();
      await browser.close();
      await relay.stop('SIGKILL');
    });
    const member = await client(relay.url);
    assert.deepEqual(await ask(member, 'join', 'lobby'), { ok: true });
    const events: string[] = [];
    member.onAny((event: string) => events.push(event));

    // Cross-site: a page from another origin. These are simple requests: the browser sends them without
    // asking the admin server first.
    const attacker = createServer((_req, res) => res.end('<!doctype html><title>attacker</title>'));
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    t.after(() => attacker.close());
    const evil = await openPage(browser, `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    const crossSite = await evil.page.evaluate(async (admin) => {
      const sent: string[] = [];
      for (const [path, body] of [
        ['/v1/publish', JSON.stringify({ room: 'lobby', event: 'pwned', data: 1 })],
        ['/v1/drain', undefined],
      ] as const) {
        await fetch(admin + path, { method: 'POST', mode: 'no-cors', body });
        sent.push(path);
      }
      return sent;
    }, relay.adminUrl);
    assert.deepEqual(crossSite, ['/v1/publish', '/v1/drain']);

    // DNS rebinding: a name the attacker controls now resolves to the admin port, so the page is
    // "same-origin" with it and could read answers and send JSON.
    const rebound = await openPage(browser, `http://rebound.test:${relay.adminPort}/healthz`);
    const rebinding = await rebound.page.evaluate(async () => {
      const stats = await fetch('/v1/stats');
      const drain = await fetch('/v1/drain', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return { stats: stats.status, statsBody: await stats.text(), drain: drain.status };
    });
    assert.equal(rebinding.stats, 403);
    assert.ok(!rebinding.statsBody.includes('target'), rebinding.statsBody);
    assert.equal(rebinding.drain, 403);

    // The relay is still serving, and a legitimate publish is the only one the member got.
    await adminPublish(relay, { room: 'lobby', event: 'legit', data: 1 });
    await waitFor('the legitimate publish', () => events.includes('legit'));
    assert.deepEqual(events, ['legit']);
    const stats = (await (await fetch(`${relay.adminUrl}/v1/stats`)).json()) as { draining: boolean };
    assert.equal(stats.draining, false);
    assert.equal((await fetch(`${relay.adminUrl}/readyz`)).status, 200);
  });
});
