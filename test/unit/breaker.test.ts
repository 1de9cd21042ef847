// The circuit breaker of an HTTP function (src/upstream/breaker.ts), on a mocked clock: when it opens,
// what it lets through while open, and how one trial call closes or reopens it.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { CircuitBreaker } from '../../src/upstream/breaker.js';

const THRESHOLD = 3;
const COOLDOWN_MS = 1_000;

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['Date'], now: 0 });
  const changes: boolean[] = [];
  const breaker = new CircuitBreaker({
    threshold: THRESHOLD,
    cooldownMs: COOLDOWN_MS,
    onChange: (open) => changes.push(open),
  });
  const fail = (n: number) => {
    for (let i = 0; i < n; i++) {
      assert.equal(breaker.allow(), true);
      breaker.failed();
    }
  };
  return { breaker, changes, fail };
}

describe('circuit breaker', () => {
  test('opens after the threshold of failures in a row, and says so once', (t) => {
    const { breaker, changes, fail } = setup(t);
    fail(THRESHOLD - 1);
    assert.equal(breaker.allow(), true, 'below the threshold every call goes out');
    assert.deepEqual(changes, []);
    breaker.failed();
    assert.deepEqual(changes, [true]);
    for (let i = 0; i < 10; i++) assert.equal(breaker.allow(), false, 'refused at once while open');
    assert.deepEqual(changes, [true]);
  });

  test('a success resets the count: failures must be in a row', (t) => {
    const { breaker, changes, fail } = setup(t);
    fail(THRESHOLD - 1);
    breaker.succeeded();
    fail(THRESHOLD - 1);
    assert.equal(breaker.allow(), true);
    assert.deepEqual(changes, [], 'a success that closes nothing reports nothing');
  });

  test('after the cooldown one trial call goes out; its success closes the circuit', (t) => {
    const { breaker, changes, fail } = setup(t);
    fail(THRESHOLD);
    t.mock.timers.tick(COOLDOWN_MS - 1);
    assert.equal(breaker.allow(), false, 'still cooling down');
    t.mock.timers.tick(1);
    assert.equal(breaker.allow(), true, 'the trial call');
    assert.equal(breaker.allow(), false, 'only one trial at a time');
    breaker.succeeded();
    assert.deepEqual(changes, [true, false]);
    for (let i = 0; i < 5; i++) assert.equal(breaker.allow(), true, 'closed: every call goes out');
  });

  test('a failed trial opens the circuit for another cooldown, without reporting it again', (t) => {
    const { breaker, changes, fail } = setup(t);
    fail(THRESHOLD);
    t.mock.timers.tick(COOLDOWN_MS);
    assert.equal(breaker.allow(), true);
    breaker.failed();
    assert.equal(breaker.allow(), false, 'open again at once');
    t.mock.timers.tick(COOLDOWN_MS - 1);
    assert.equal(breaker.allow(), false, 'for a whole new cooldown');
    t.mock.timers.tick(1);
    assert.equal(breaker.allow(), true);
    assert.deepEqual(changes, [true], 'still open: no change to report');
  });
});
