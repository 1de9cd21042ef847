// The CONNECT bound of one client connection (src/relay/one-socket.ts), on a fake clock.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { type EngineConnection, limitConnects } from '../../src/relay/one-socket.js';

function connection(engine: EventEmitter): EngineConnection & { closed: number; send(data: unknown): void } {
  const conn = Object.assign(new EventEmitter(), {
    closed: 0,
    close() {
      conn.closed++;
    },
    send(data: unknown) {
      conn.emit('data', data);
    },
  });
  engine.emit('connection', conn);
  return conn as unknown as EngineConnection & { closed: number; send(data: unknown): void };
}

test('a connection may send 16 CONNECTs at once, then 4 a second; the next one closes it', () => {
  let clock = 1_000_000;
  const engine = new EventEmitter();
  limitConnects(engine, () => clock);
  const conn = connection(engine);
  const other = connection(engine);
  for (let i = 0; i < 16; i++) conn.send('0{}');
  for (let i = 0; i < 100; i++) conn.send('2["event"]');
  conn.send(Buffer.from('0'));
  assert.equal(conn.closed, 0, 'a burst of 16; other packets do not count');
  clock += 1000;
  for (let i = 0; i < 4; i++) conn.send('0/admin,');
  assert.equal(conn.closed, 0, '4 more a second later');
  conn.send('0');
  assert.equal(conn.closed, 1, 'the 21st within a second closes it');
  other.send('0');
  assert.equal(other.closed, 0, 'each connection has its own allowance');
  clock += 10_000;
  for (let i = 0; i < 16; i++) other.send('0');
  assert.equal(other.closed, 0, 'the allowance fills up to the burst and no further');
  other.send('0');
  assert.equal(other.closed, 1);
});
