// The per-socket token bucket (src/relay/rate-limit.ts) on a fake socket and a mocked clock: bursts up
// to twice the rate, refill over time, coded error acks, and the disconnect of a socket that keeps
// sending at over five times the rate.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Socket } from 'socket.io';
import { DISCONNECT_EVENT, ErrorCodes } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { limitRate } from '../../src/relay/rate-limit.js';

const RATE = 10;

type Middleware = (packet: unknown[], next: (err?: Error) => void) => void;

/** A socket as the limiter sees it: middlewares, the namespace, emit and disconnect. */
function fakeSocket() {
  const middlewares: Middleware[] = [];
  const emitted: unknown[][] = [];
  let disconnected: boolean | undefined;
  const socket = {
    nsp: { name: '/app' },
    use: (fn: Middleware) => middlewares.push(fn),
    emit: (...args: unknown[]) => emitted.push(args),
    disconnect: (close: boolean) => {
      disconnected = close;
    },
  };
  /** Runs one incoming event through the middlewares; returns the ack's answer, or 'passed'. */
  const send = (opts: { ack: boolean } = { ack: true }) => {
    let answer: unknown = 'no answer';
    let passed = false;
    const packet: unknown[] = ['e', { n: 1 }];
    if (opts.ack) packet.push((reply: unknown) => (answer = reply));
    for (const fn of middlewares) fn(packet, () => (passed = true));
    return passed ? 'passed' : answer;
  };
  return { socket: socket as unknown as Socket, send, emitted, disconnected: () => disconnected };
}

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const metrics = createMetrics({ instanceId: 't', transport: 'uws' });
  const client = fakeSocket();
  limitRate(RATE, metrics)(client.socket);
  const refused = async () => (await metrics.rateLimited.get()).values.reduce((sum, v) => sum + v.value, 0);
  return { ...client, refused };
}

const refusal = {
  ok: false,
  error: { code: ErrorCodes.RATE_LIMITED, message: `more than ${RATE} events per second` },
};

describe('rate limit', () => {
  test('a burst of twice the rate passes; the next event gets a coded error ack and is counted', async (t) => {
    const { send, refused } = setup(t);
    for (let i = 0; i < RATE * 2; i++) assert.equal(send(), 'passed', `event ${i + 1}`);
    assert.deepEqual(send(), refusal);
    assert.equal(await refused(), 1);
  });

  test('tokens come back at the rate: one per 1/rate s, never more than the burst', (t) => {
    const { send } = setup(t);
    for (let i = 0; i < RATE * 2; i++) send();
    assert.notEqual(send(), 'passed');
    t.mock.timers.tick(1000 / RATE);
    assert.equal(send(), 'passed', 'one token after 1/rate s');
    assert.notEqual(send(), 'passed');
    t.mock.timers.tick(60_000);
    let passed = 0;
    while (send() === 'passed') passed++;
    assert.equal(passed, RATE * 2, 'a long pause refills the bucket to the burst, not beyond');
  });

  test('an event without an ack is refused all the same, silently', async (t) => {
    const { send, refused, emitted } = setup(t);
    for (let i = 0; i < RATE * 2; i++) send({ ack: false });
    assert.equal(send({ ack: false }), 'no answer');
    assert.equal(await refused(), 1);
    assert.deepEqual(emitted, []);
  });

  test('more than four times the rate refused within one second: told why, then disconnected', (t) => {
    const { send, emitted, disconnected } = setup(t);
    for (let i = 0; i < RATE * 2; i++) send();
    for (let i = 0; i < RATE * 4; i++) assert.deepEqual(send(), refusal);
    assert.equal(disconnected(), undefined, 'up to four times the rate refused: still connected');
    send();
    assert.deepEqual(emitted, [[DISCONNECT_EVENT, refusal.error]]);
    assert.equal(disconnected(), true, 'the connection is closed too');
  });

  test('four times the rate refused every second, sustained, is not disconnected', (t) => {
    const { send, disconnected } = setup(t);
    for (let second = 0; second < 5; second++) {
      while (send() === 'passed') {} // what the bucket holds, then one refusal
      for (let i = 1; i < RATE * 4; i++) assert.deepEqual(send(), refusal);
      t.mock.timers.tick(1000);
    }
    assert.equal(disconnected(), undefined);
  });
});
