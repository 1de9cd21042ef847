// rediss://: a TLS-only redis-server with a throwaway CA made by openssl for this run. Relays that trust
// the CA through NODE_EXTRA_CA_CERTS form a cluster over it; a relay that does not trust it never talks to
// Redis in clear text or without verification: it stays unready and says why, once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ask, client, closeClients, collect, received } from '../helpers/clients.js';
import { startRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

after(() => closeClients());

/** A CA and a server certificate for 127.0.0.1 signed by it, in a fresh temp directory. */
function makeCertificates(dir: string) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=edge-relay test CA',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.cnf',
  );
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

test('rediss:// with a private CA: cross-instance delivery over TLS; an untrusting relay stays unready', async (t) => {
  if (!toolAvailable('redis-server') || !toolAvailable('openssl')) {
    return t.skip('redis-server or openssl is not installed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = makeCertificates(dir);
  const redis = await startRedis({ tls });
  t.after(() => redis.stop());
  assert.match(redis.url, /^rediss:\/\/127\.0\.0\.1:\d+$/);

  const trusting = { NODE_EXTRA_CA_CERTS: tls.ca };
  const [a, b, untrusting] = await Promise.all([
    startRelay(['--redis-url', redis.url, '--instance-id', 'A'], trusting),
    startRelay(['--redis-url', redis.url, '--instance-id', 'B', '--transport', 'ws'], trusting),
    startRelay(['--redis-url', redis.url, '--instance-id', 'C']),
  ]);
  t.after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL'), untrusting.stop('SIGKILL')]));

  for (const relay of [a, b]) assert.equal((await fetch(`${relay.adminUrl}/readyz`)).status, 200);
  const alice = await client(a.url);
  const bob = await client(b.url, { transports: ['websocket'] });
  for (const s of [alice, bob]) assert.deepEqual(await ask(s, 'join', 'secure'), { ok: true });
  const atBob = collect<number>(bob, 'n');
  const atAlice = collect<number>(alice, 'n');
  for (let n = 1; n <= 5; n++) {
    assert.deepEqual(await ask(alice, 'publish', { room: 'secure', event: 'n', data: n }), { ok: true });
  }
  await received('the messages across instances over TLS', atBob, 5);
  assert.deepEqual(atBob, [1, 2, 3, 4, 5]);
  await received('the messages at the publisher', atAlice, 5);
  assert.deepEqual(atAlice, [1, 2, 3, 4, 5]);

  const refused = await fetch(`${untrusting.adminUrl}/readyz`);
  assert.equal(refused.status, 503);
  assert.deepEqual(((await refused.json()) as { reasons: string[] }).reasons, [
    'redis unavailable',
    'stream reader not running',
  ]);
  const failures = untrusting.logs.filter((l) => l.msg === 'redis unavailable');
  assert.equal(failures.length, 1, 'logged once');
  assert.match(String(failures[0]?.error), /certificate/i);
});
