import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
    assert.ok(policy.allowsJoin('public:x'));
    assert.ok(policy.allowsJoin('team'));
    assert.ok(!policy.allowsJoin('teams'));
    assert.ok(!policy.allowsPublish('public:x'));
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
