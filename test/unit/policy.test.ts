import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseNamespaces } from '../../src/config/namespaces.js';
import { ErrorCodes, RelayError } from '../../src/errors.js';
import { compilePattern, compilePolicy } from '../../src/relay/policy.js';
import { assertEvent, assertPublish, assertRoom, looksLikeSocketId } from '../../src/relay/validate.js';

describe('room patterns', () => {
  test('* matches any run of characters; everything else is literal', () => {
    assert.ok(compilePattern('*').test(''));
    assert.ok(compilePattern('*').test('any room at all'));
    assert.ok(compilePattern('chat:*').test('chat:'));
    assert.ok(compilePattern('chat:*').test('chat:general'));
    assert.ok(!compilePattern('chat:*').test('xchat:general'));
    assert.ok(compilePattern('a.b').test('a.b'));
    assert.ok(!compilePattern('a.b').test('axb'), 'regex characters are literal');
    assert.ok(compilePattern('user-*-inbox').test('user-42-inbox'));
    assert.ok(!compilePattern('user-*-inbox').test('user-42-outbox'));
    assert.ok(compilePattern('*').test('line\nbreak'));
  });

  test('policies check join and publish separately; an empty list allows nothing', () => {
    const policy = compilePolicy({ join: ['public:*', 'team'], publish: [] });
    const anyone = { data: {} };
    assert.ok(policy.allowsJoin('public:x', anyone));
    assert.ok(policy.allowsJoin('team', anyone));
    assert.ok(!policy.allowsJoin('teams', anyone));
    assert.ok(!policy.allowsPublish('public:x', anyone));
  });

  test("placeholders match only the socket's own values, escaped; a missing value matches nothing", () => {
    const policy = compilePolicy({
      join: ['user:{userId}', 'team:{claims.team}/*', 'org:{claims.https://example.com/org}'],
      publish: ['inbox:{userId}'],
    });
    const alice = { data: { userId: 'alice', claims: { team: 'red', 'https://example.com/org': 7 } } };
    assert.ok(policy.allowsJoin('user:alice', alice));
    assert.ok(!policy.allowsJoin('user:bob', alice));
    assert.ok(!policy.allowsJoin('user:alice2', alice));
    assert.ok(policy.allowsJoin('team:red/x', alice));
    assert.ok(!policy.allowsJoin('team:blue/x', alice));
    assert.ok(policy.allowsJoin('org:7', alice), 'a numeric claim fills a placeholder in decimal');
    assert.ok(policy.allowsPublish('inbox:alice', alice));
    assert.ok(!policy.allowsJoin('inbox:alice', alice), 'join and publish lists stay apart');

    const noClaims = { data: { userId: 'carol' } };
    assert.ok(!policy.allowsJoin('team:/x', noClaims));
    assert.ok(!policy.allowsJoin('team:undefined/x', noClaims));
    assert.ok(!policy.allowsJoin('user:', { data: {} }), 'no user: {userId} matches nothing');
    const objectClaim = { data: { userId: 'd', claims: { team: { name: 'red' } } } };
    assert.ok(!policy.allowsJoin('team:[object Object]/x', objectClaim));

    // A value is literal text: its regex characters and `*` match only themselves.
    const tricky = { data: { userId: 'a.*', claims: { team: '.*' } } };
    assert.ok(policy.allowsJoin('user:a.*', tricky));
    assert.ok(!policy.allowsJoin('user:abc', tricky));
    assert.ok(!policy.allowsJoin('team:red/x', tricky));
  });

  test('a socket whose data is replaced is checked against its new identity', () => {
    const policy = compilePolicy({ join: ['user:{userId}'], publish: [] });
    const socket = { data: {} as Record<string, unknown> };
    assert.ok(!policy.allowsJoin('user:erin', socket));
    socket.data = { userId: 'erin' };
    assert.ok(policy.allowsJoin('user:erin', socket));
  });

  test('unknown placeholders and stray braces are config errors naming the pattern', () => {
    for (const bad of ['user:{user}', 'x:{claims.}', 'a{b', 'a}b', '{userId']) {
      assert.throws(
        () => parseNamespaces({ '/': { join: ['ok', bad] } }),
        (err: Error) => err.message.startsWith('namespaces./.join[1]:'),
        bad,
      );
    }
    assert.doesNotThrow(() => parseNamespaces({ '/': { publish: ['user:{userId}', '{claims.team}:*'] } }));
  });

  test('presence patterns: `*` patterns, no placeholders; none when omitted', () => {
    assert.deepEqual(parseNamespaces({ '/': { presence: ['chat:*'] } })['/']?.presence, ['chat:*']);
    assert.deepEqual(parseNamespaces({ '/': {} })['/']?.presence, []);
    for (const bad of ['user:{userId}', 'team:{claims.team}']) {
      assert.throws(
        () => parseNamespaces({ '/': { presence: ['ok', bad] } }),
        (err: Error) => err.message.startsWith('namespaces./.presence[1]:'),
        bad,
      );
    }
    assert.throws(() => parseNamespaces({ '/': { presence: 'chat:*' } }), /namespaces\.\/\.presence/);
  });
});

describe('payload validation', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof RelayError);
      return err.code;
    }
    return undefined;
  };

  test('rooms', () => {
    assert.equal(assertRoom('lobby'), 'lobby');
    for (const bad of [undefined, null, 1, '', 'x'.repeat(257), {}, ['a']]) {
      assert.equal(
        code(() => assertRoom(bad)),
        ErrorCodes.BAD_REQUEST,
        JSON.stringify(bad),
      );
    }
  });

  test('events', () => {
    assert.equal(assertEvent('chat'), 'chat');
    for (const bad of ['', 'x'.repeat(129), 3, 'connect', 'disconnect', 'connect_error', 'newListener']) {
      assert.equal(
        code(() => assertEvent(bad)),
        ErrorCodes.BAD_REQUEST,
        String(bad),
      );
    }
  });

  test('publish payloads', () => {
    assert.deepEqual(assertPublish({ room: 'r', event: 'e', data: [1] }), {
      room: 'r',
      event: 'e',
      data: [1],
    });
    for (const bad of [null, 'r', [], { room: 'r' }, { event: 'e' }, { room: 1, event: 'e' }]) {
      assert.equal(
        code(() => assertPublish(bad)),
        ErrorCodes.BAD_REQUEST,
        JSON.stringify(bad),
      );
    }
  });

  test('socket-id-shaped rooms are recognised', () => {
    assert.ok(looksLikeSocketId('Ab3_-Ab3_-Ab3_-Ab3_-'));
    assert.ok(!looksLikeSocketId('lobby'));
    assert.ok(!looksLikeSocketId('Ab3_-Ab3_-Ab3_-Ab3_-x'));
  });
});
