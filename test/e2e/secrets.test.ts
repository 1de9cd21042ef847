// Secrets given to the relay (Redis password, admin token, JWT secret) never show up in its logs, in error
// answers or in /v1/stats — also while Redis refuses the password.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { closeClients } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { exited, track, waitFor } from '../helpers/processes.js';
import { startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const REDIS_PASSWORD = 'redis-pw-7f3a9c1e';
const ADMIN_TOKEN = 'admin-token-2b8d4e6f';
const JWT_SECRET = 'jwt-secret-9e1c5a7b3d';

describe('secrets', () => {
  let port = 0;
  let stop: (() => Promise<unknown>) | undefined;
  before(async () => {
    if (!toolAvailable('redis-server')) return;
    port = await freePort();
    const child = track(
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--requirepass', REDIS_PASSWORD],
        {
          stdio: 'ignore',
        },
      ),
    );
    stop = async () => {
      child.kill('SIGKILL');
      await exited(child);
    };
  });
  after(async () => {
    closeClients();
    await stop?.();
  });

  for (const password of [REDIS_PASSWORD, 'wrong-password-41d2']) {
    test(`no secret in logs, errors or stats (${password === REDIS_PASSWORD ? 'right' : 'wrong'} Redis password)`, async (t) => {
      if (!stop) return t.skip('redis-server is not installed');
      const relay = await startRelay([
        '--redis-url',
        `redis://:${password}@127.0.0.1:${port}`,
        '--admin-token',
        ADMIN_TOKEN,
        '--jwt-secret',
        JWT_SECRET,
      ]);
      t.after(() => relay.stop('SIGKILL'));
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const answers = [
        await (await fetch(`${relay.adminUrl}/v1/stats`, { headers: auth })).text(),
        await (
          await fetch(`${relay.adminUrl}/v1/stats`, { headers: { authorization: 'Bearer nope' } })
        ).text(),
        await (await fetch(`${relay.adminUrl}/readyz`)).text(),
        await (await fetch(`${relay.adminUrl}/metrics`)).text(),
        await (
          await fetch(`${relay.adminUrl}/v1/publish`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: '{"event":"x"}',
          })
        ).text(),
      ];
      if (password === REDIS_PASSWORD) {
        await waitFor('redis ready', () => relay.logs.some((l) => l.msg === 'redis connection ready'));
        assert.ok(
          relay.logs.some((l) => String(l.redis).includes(':***@')),
          'the Redis URL is logged masked',
        );
      } else {
        await waitFor('the refused password is reported', () => relay.logs.some((l) => l.level !== 'info'));
      }
      const everything = JSON.stringify(relay.logs) + answers.join('\n');
      for (const secret of [REDIS_PASSWORD, 'wrong-password-41d2', ADMIN_TOKEN, JWT_SECRET]) {
        assert.equal(everything.includes(secret), false, `a secret leaked: ${secret}`);
      }
    });
  }
});
