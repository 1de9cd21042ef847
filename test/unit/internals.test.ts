// The Socket.IO internals the relay relies on (src/internals.ts): an upgrade that changes them fails here
// rather than in a replay.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Server } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import { preEncode } from '../../src/internals.js';

test('a broadcast packet is encoded once, with the ws transport frame precomputed', () => {
  // Not attached to any server: nothing to close.
  const io = new Server();
  const encoded = preEncode(io.of('/').adapter, { type: 2, data: ['m', { n: 1 }, '1-0'], nsp: '/' });
  assert.deepEqual(encoded.packets, ['2["m",{"n":1},"1-0"]']);
  assert.equal(encoded.opts.preEncoded, true);
  assert.ok(Array.isArray(encoded.opts.wsPreEncodedFrame), 'the WebSocket frame of the ws transport');
});

test('the methods the relay calls outside the public types still exist', () => {
  const require = createRequire(import.meta.url);
  const clientModule = join(dirname(require.resolve('socket.io')), 'client.js');
  const { Client } = require(clientModule) as { Client: { prototype: Record<string, unknown> } };
  assert.equal(typeof Client.prototype.writeToEngine, 'function');
  assert.equal(typeof (Adapter.prototype as unknown as Record<string, unknown>)._encode, 'function');
  assert.equal(typeof Adapter.prototype.broadcast, 'function');
});
