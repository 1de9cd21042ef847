// The JWT user claim (src/relay/auth.ts): which claim names the socket's user, and which tokens lack one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { AuthError, createAuthenticator } from '../../src/relay/auth.js';

const SECRET = 'unit-secret-0123456789';
const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

describe('the JWT user claim', () => {
  test('sub by default; --jwt-user-claim names another; an integer id is used in decimal', async () => {
    const bySub = createAuthenticator({ secret: SECRET });
    const byEmail = createAuthenticator({ secret: SECRET, userClaim: 'email' });
    assert.equal((await bySub?.verify(await sign({ sub: 'alice', email: 'a@x' })))?.userId, 'alice');
    assert.equal((await byEmail?.verify(await sign({ sub: 'alice', email: 'a@x' })))?.userId, 'a@x');
    assert.equal((await bySub?.verify(await sign({ sub: 42 })))?.userId, '42');
  });

  test('a token whose user claim is missing, empty, not a string or too long is refused (claims)', async () => {
    const byEmail = createAuthenticator({ secret: SECRET, userClaim: 'email' });
    for (const claims of [{ sub: 'alice' }, { email: '' }, { email: { a: 1 } }, { email: 'x'.repeat(252) }]) {
      await assert.rejects(byEmail?.verify(await sign(claims)) as Promise<unknown>, (err: unknown) => {
        assert.ok(err instanceof AuthError);
        assert.equal(err.reason, 'claims');
        return true;
      });
    }
  });
});
