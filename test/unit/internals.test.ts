// The Socket.IO internals the relay relies on (src/internals.ts): an upgrade that changes them fails here
// rather than in a replay.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Server } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import {
  compactSocket,
  encodeWithAdapter,
  LazyAcks,
  namespacesOf,
  preEncode,
  SendCallbacks,
  scopeUwsIntegration,
  socketById,
  tcpOf,
  webSocketOf,
} from '../../src/internals.js';

test('a broadcast packet is encoded once, with the ws transport frame precomputed', () => {
  // Not attached to any server: nothing to close.
  const io = new Server();
  const encoded = preEncode(io.of('/').adapter, { type: 2, data: ['m', { n: 1 }, '1-0'], nsp: '/' });
  assert.deepEqual(encoded.packets, ['2["m",{"n":1},"1-0"]']);
  assert.equal(encoded.opts.preEncoded, true);
  assert.ok(Array.isArray(encoded.opts.wsPreEncodedFrame), 'the WebSocket frame of the ws transport');
});

test("a packet is encoded with the namespace's encoder: text first, binary attachments after", () => {
  const adapter = new Server().of('/').adapter;
  assert.deepEqual(encodeWithAdapter(adapter, { type: 2, data: ['m', 1], nsp: '/' }), ['2["m",1]']);
  const [text, attachment] = encodeWithAdapter(adapter, { type: 2, data: ['b', Buffer.from([7])], nsp: '/' });
  assert.equal(text, '51-["b",{"_placeholder":true,"num":0}]');
  assert.deepEqual(attachment, Buffer.from([7]));
});

test('the methods the relay calls outside the public types still exist', () => {
  const require = createRequire(import.meta.url);
  const clientModule = join(dirname(require.resolve('socket.io')), 'client.js');
  const { Client } = require(clientModule) as { Client: { prototype: Record<string, unknown> } };
  assert.equal(typeof Client.prototype.writeToEngine, 'function');
  assert.equal(typeof (Adapter.prototype as unknown as Record<string, unknown>)._encode, 'function');
  assert.equal(typeof Adapter.prototype.broadcast, 'function');
  const engineSocket = join(dirname(require.resolve('engine.io')), 'socket.js');
  const { Socket } = require(engineSocket) as { Socket: { prototype: Record<string, unknown> } };
  assert.equal(typeof Socket.prototype.flush, 'function');
  const source = readFileSync(engineSocket, 'utf8');
  assert.ok(source.includes('this.flush();'), 'Engine.IO flushes through the instance (wrapFlush)');
  assert.ok(source.includes('this.writeBuffer.push(packet)'), 'Engine.IO queues packets in writeBuffer');
  const socketModule = join(dirname(require.resolve('socket.io')), 'socket.js');
  const { Socket: IoSocket } = require(socketModule) as { Socket: { prototype: Record<string, unknown> } };
  assert.equal(typeof IoSocket.prototype.notifyOutgoingListeners, 'function');
});

test('namespaces, sockets in middlewares, and the WebSockets under a transport are where the relay reads them', () => {
  const io = new Server();
  const nsp = io.of('/app');
  assert.deepEqual(
    [...namespacesOf(io)].map((n) => n.name),
    ['/', '/app'],
  );
  assert.equal(socketById(nsp, 'nobody'), undefined, 'reads both maps without throwing');

  const require = createRequire(import.meta.url);
  const engineDir = dirname(require.resolve('engine.io'));
  const { WebSocket: WebSocketTransport } = require(join(engineDir, 'transports', 'websocket.js')) as {
    WebSocket: new (req: unknown) => unknown;
  };
  const ws = new EventEmitter();
  const transport = new WebSocketTransport({ websocket: ws, _query: {} });
  assert.equal(webSocketOf(transport), ws);

  const wsSource = readFileSync(join(dirname(require.resolve('ws')), 'lib', 'websocket.js'), 'utf8');
  assert.ok(wsSource.includes('this._socket = socket;'), 'ws keeps its TCP socket as _socket');
  const fake = { _socket: 'tcp' };
  assert.equal(tcpOf(fake), 'tcp');
});

test("Socket.IO's uWS integration is scoped to the server attached to uWS", () => {
  const published: string[] = [];
  // Every method the integration calls on a uWS app does nothing (and chains), except publish.
  const app: object = new Proxy(
    { publish: (topic: string) => published.push(topic) },
    { get: (target, prop) => (prop in target ? Reflect.get(target, prop) : () => app) },
  );
  const attached = new Server();
  const other = new Server();
  scopeUwsIntegration(
    attached,
    () => attached.attachApp(app),
    (patched) => patched,
  );
  const everyone = { rooms: new Set<string>(), except: new Set<string>(), flags: {} };
  attached.of('/').adapter.broadcast({ type: 2, data: ['x'], nsp: '/' }, everyone);
  other.of('/').adapter.broadcast({ type: 2, data: ['x'], nsp: '/' }, everyone);
  assert.deepEqual(published, ['/'], 'a topic publish for the attached server only');
});

test('compactSocket: listeners keep working from the compact tables, and the arrays keep their contents', () => {
  const require = createRequire(import.meta.url);
  const source = (file: string) => readFileSync(file, 'utf8');
  const engineSocket = source(join(dirname(require.resolve('engine.io')), 'socket.js'));
  assert.ok(
    engineSocket.includes('this.cleanupFn.shift()'),
    'Engine.IO reads cleanupFn through the instance',
  );
  const ioSocket = source(join(dirname(require.resolve('socket.io')), 'socket.js'));
  assert.ok(ioSocket.includes('this.fns.slice(0)'), 'Socket.IO reads fns through the instance');
  const emitter = source(require.resolve('@socket.io/component-emitter'));
  assert.ok(
    emitter.includes("this._callbacks['$' + event]"),
    'the decoder keeps its listeners in _callbacks',
  );

  const calls: string[] = [];
  const socket = Object.assign(new EventEmitter(), {
    fns: [() => {}],
    acks: new Map() as unknown,
    conn: Object.assign(new EventEmitter(), {
      cleanupFn: [() => {}],
      sentCallbackFn: [null] as unknown,
      transport: Object.assign(new EventEmitter(), { name: 'websocket' }),
    }),
    client: {
      decoder: { _callbacks: { $decoded: [() => {}] }, opts: { reviver: undefined, maxAttachments: 10 } },
    },
  });
  socket.conn.transport.on('headers', () => calls.push('headers'));
  socket.on('packet', () => calls.push('a'));
  socket.on('packet', () => calls.push('b'));
  socket.once('close', () => calls.push('close'));
  socket.conn.on('data', () => calls.push('data'));
  const middlewares = socket.fns;
  compactSocket(socket as unknown as Parameters<typeof compactSocket>[0]);
  assert.notEqual(socket.fns, middlewares, 'a copy of its length');
  assert.deepEqual(socket.fns, middlewares);
  assert.equal(socket.conn.cleanupFn.length, 1);
  assert.equal(socket.client.decoder._callbacks.$decoded.length, 1);
  assert.ok(socket.acks instanceof LazyAcks, 'no ack awaited: a LazyAcks');
  assert.ok(socket.conn.sentCallbackFn instanceof SendCallbacks);
  assert.equal((socket.conn.sentCallbackFn as SendCallbacks).length, 1, 'the pending entry kept');
  assert.equal((socket.conn.sentCallbackFn as SendCallbacks).shift(), null);
  assert.deepEqual(socket.client.decoder.opts, { reviver: undefined, maxAttachments: 10 });
  assert.ok(Object.isFrozen(socket.client.decoder.opts), 'the shared copy');
  socket.conn.transport.emit('headers');

  socket.emit('packet');
  socket.emit('close');
  socket.emit('close');
  socket.conn.emit('data');
  socket.on('toString', () => calls.push('toString'));
  socket.emit('toString');
  socket.removeAllListeners('packet');
  socket.emit('packet');
  assert.deepEqual(calls, ['a', 'b', 'close', 'data', 'toString']);
  assert.equal(socket.emit('hasOwnProperty'), false, 'nothing inherited counts as a listener');
});

test("SendCallbacks is the first-in first-out queue Engine.IO's array was, entries and nulls alike", () => {
  const engineSocket = readFileSync(
    join(dirname(createRequire(import.meta.url).resolve('engine.io')), 'socket.js'),
    'utf8',
  );
  assert.ok(engineSocket.includes('this.sentCallbackFn.shift()'), 'Engine.IO shifts through the instance');
  assert.ok(engineSocket.includes('this.sentCallbackFn.push(null)'), 'and pushes through it');
  const queue = new SendCallbacks();
  assert.equal(queue.shift(), undefined, 'empty');
  const a = [() => {}];
  const b = [() => {}];
  assert.equal(queue.push(a), 1);
  assert.equal(queue.push(null), 2);
  assert.equal(queue.push(b), 3);
  assert.equal(queue.length, 3);
  assert.equal(queue.shift(), a);
  assert.equal(queue.push(a), 3);
  assert.deepEqual([queue.shift(), queue.shift(), queue.shift(), queue.shift()], [null, b, a, undefined]);
  assert.equal(queue.length, 0);
  queue.push(b);
  assert.equal(queue.shift(), b, 'reusable once empty');
});

test('LazyAcks does what Socket.IO asks of its acks map, and makes the map only when one is set', () => {
  const ioSocket = readFileSync(
    join(dirname(createRequire(import.meta.url).resolve('socket.io')), 'socket.js'),
    'utf8',
  );
  const used = new Set([...ioSocket.matchAll(/\.acks\.(\w+)/g)].map((m) => m[1]));
  assert.deepEqual([...used].sort(), ['delete', 'get', 'set'], 'the methods Socket.IO calls');
  const acks = new LazyAcks();
  assert.equal(acks.get(1), undefined);
  assert.equal(acks.delete(1), false);
  assert.equal(acks.size, 0);
  assert.equal((acks as unknown as { map?: unknown }).map, undefined, 'no Map yet');
  const one = () => {};
  const two = () => {};
  assert.equal(acks.set(1, one).set(2, two), acks);
  assert.equal(acks.get(1), one);
  assert.equal(acks.get(2), two);
  assert.equal(acks.delete(1), true);
  assert.equal(acks.get(1), undefined);
  assert.equal(acks.size, 1);
});
