// The cluster wire format: stream entries as @socket.io/redis-streams-adapter writes them, offsets, and
// which broadcasts a restored socket gets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from 'socket.io-adapter';
import {
  compareStreamIds,
  decodeEntry,
  encodeEntry,
  isStreamId,
  reaches,
  recoverableBroadcast,
  streamOf,
} from '../../src/cluster/wire.js';

const broadcast = (data: unknown, opts = { rooms: ['r'], except: [] as string[], flags: {} }) =>
  ({ uid: 'u1', nsp: '/', type: MessageType.BROADCAST, data: { packet: { type: 2, data }, opts } }) as never;

test('entries are JSON, or base64 MessagePack when they carry binary, and decode back', () => {
  const plain = encodeEntry(broadcast(['m', { n: 1 }]));
  assert.deepEqual(Object.keys(plain), ['uid', 'nsp', 'type', 'data']);
  assert.equal(plain.type, '3');
  assert.ok(plain.data?.startsWith('{'));
  assert.deepEqual(decodeEntry(plain), broadcast(['m', { n: 1 }]));
  const binary = encodeEntry(broadcast(['b', Buffer.from([1, 2, 3])]));
  assert.ok(!binary.data?.startsWith('{'));
  const decoded = decodeEntry(binary) as { data: { packet: { data: [string, Uint8Array] } } };
  assert.deepEqual([...decoded.data.packet.data[1]], [1, 2, 3]);
  assert.throws(() => decodeEntry({ uid: 'x' }), TypeError);
});

test('only acknowledgement-free, non-volatile events are recoverable', () => {
  assert.ok(recoverableBroadcast(broadcast(['m', 1])));
  assert.equal(
    recoverableBroadcast(broadcast(['m', 1], { rooms: [], except: [], flags: { volatile: true } as never })),
    undefined,
  );
  const withAck = {
    uid: 'u',
    nsp: '/',
    type: 3,
    data: { packet: { type: 2, id: 4, data: ['m'] }, opts: { rooms: [], except: [] } },
  };
  assert.equal(recoverableBroadcast(withAck as never), undefined);
  const join = {
    uid: 'u',
    nsp: '/',
    type: MessageType.SOCKETS_JOIN,
    data: { opts: { rooms: [], except: [] }, rooms: ['x'] },
  };
  assert.equal(recoverableBroadcast(join as never), undefined);
});

test('a broadcast reaches a socket through one of its rooms unless one of them is excluded', () => {
  assert.equal(reaches(['a', 'sid'], { rooms: [], except: [] }), true);
  assert.equal(reaches(['a', 'sid'], { rooms: ['b', 'a'], except: [] }), true);
  assert.equal(reaches(['a', 'sid'], { rooms: ['b'], except: [] }), false);
  assert.equal(reaches(['a', 'sid'], { rooms: ['a'], except: ['sid'] }), false);
});

test('offsets compare numerically and streams are named like the streams adapter names them', () => {
  assert.equal(isStreamId('1700000000000-12'), true);
  assert.equal(isStreamId('1-2-3'), false);
  assert.equal(isStreamId(12), false);
  assert.ok(compareStreamIds('999-5', '1000-0') < 0);
  assert.ok(compareStreamIds('1000-10', '1000-9') > 0);
  assert.equal(compareStreamIds('1000-9', '1000-9'), 0);
  assert.equal(streamOf('/chat', 1), 'socket.io');
  assert.match(streamOf('/chat', 4), /^socket\.io-[0-3]$/);
});
