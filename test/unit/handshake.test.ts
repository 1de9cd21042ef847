// The handshake request a connection keeps, cut down to what the relay uses (src/relay/handshake.ts), and
// Socket.IO still building a namespace's handshake from what is left.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { Socket } from 'socket.io';
import { requestOf } from '../../src/internals.js';
import { slimHandshake } from '../../src/relay/handshake.js';

const fullHeaders = {
  host: 'relay.example',
  'user-agent': 'Mozilla/5.0 (a long one)',
  cookie: 'session=secret; prefs=everything',
  origin: 'https://app.example',
  'x-forwarded-for': '203.0.113.7',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'accept-encoding': 'gzip, deflate, br',
};

/** A connected socket as far as the step reads it: its connection (with the request) and its handshake. */
function socketOn(conn: { request: unknown }) {
  return {
    conn,
    handshake: { headers: (conn.request as { headers: object }).headers, time: new Date().toString() },
  } as unknown as Socket;
}

test('a connection keeps only the safe headers, the URL and the query of its handshake request', () => {
  const conn = {
    request: {
      headers: { ...fullHeaders },
      url: '/socket.io/?EIO=4&transport=websocket',
      _query: { EIO: '4', transport: 'websocket' },
      connection: { remoteAddress: '127.0.0.1', encrypted: true },
      res: { a: 'uWS response the request was built from' },
    },
  };
  const socket = socketOn(conn);
  const time = socket.handshake.time;
  slimHandshake(socket);
  assert.equal(socket.handshake.time, time, 'the same time (a shared copy when it was seen before)');
  const kept = requestOf(socket);
  assert.deepEqual(
    { ...kept },
    {
      headers: {
        host: 'relay.example',
        'user-agent': 'Mozilla/5.0 (a long one)',
        origin: 'https://app.example',
        'x-forwarded-for': '203.0.113.7',
      },
      url: '/socket.io/?EIO=4&transport=websocket',
      _query: { EIO: '4', transport: 'websocket' },
      connection: { encrypted: true },
    },
  );
  assert.equal(socket.handshake.headers, kept.headers, 'the handshake shows the same headers');

  // A second namespace of the same connection: its handshake comes from the cut-down request, unchanged.
  const second = socketOn(conn);
  slimHandshake(second);
  assert.equal(requestOf(second), kept);

  // What Socket.IO builds for that namespace from it.
  const require = createRequire(import.meta.url);
  const socketModule = join(dirname(require.resolve('socket.io')), 'socket.js');
  const { Socket: SocketClass } = require(socketModule) as {
    Socket: { prototype: { buildHandshake(this: unknown, auth: object): Record<string, unknown> } };
  };
  const built = SocketClass.prototype.buildHandshake.call(
    { request: kept, conn: { remoteAddress: '127.0.0.1' } },
    { token: 't' },
  );
  assert.equal((built.headers as Record<string, string>)['user-agent'], 'Mozilla/5.0 (a long one)');
  assert.equal((built.headers as Record<string, string>).cookie, undefined);
  assert.deepEqual(built.query, { EIO: '4', transport: 'websocket' });
  assert.equal(built.url, '/socket.io/?EIO=4&transport=websocket');
  assert.equal(built.secure, true);
  assert.equal(built.xdomain, true);
  assert.deepEqual(built.auth, { token: 't' });
});
