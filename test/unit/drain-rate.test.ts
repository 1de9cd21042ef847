// The drain's pacing (src/relay/disconnect.ts) on a mocked clock: the default rate fits the connections
// into half the drain timeout, and closeAtRate never runs ahead of its rate.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { closeAtRate, drainRate } from '../../src/relay/disconnect.js';

describe('drain rate', () => {
  test('a configured rate is used as given', () => {
    assert.equal(drainRate(100_000, 50, 30_000), 50);
    assert.equal(drainRate(0, 1, 1_000), 1);
  });

  test('by default, every connection is closed within half the drain timeout', () => {
    // 30,000 connections, 30 s timeout: 15 s for them → 2,000 per second.
    assert.equal(drainRate(30_000, undefined, 30_000), 2_000);
    assert.equal(drainRate(30_001, undefined, 30_000), 2_001, 'rounded up, never later than half');
    assert.equal(drainRate(100_000, undefined, 10_000), 20_000);
  });

  test('the default never goes below 200 per second: spreading fewer buys nothing', () => {
    assert.equal(drainRate(0, undefined, 30_000), 200);
    assert.equal(drainRate(1_000, undefined, 30_000), 200);
    assert.equal(drainRate(1_000, undefined, 120_000), 200);
  });
});

describe('closing at a rate', () => {
  /** Runs closeAtRate on `n` fake connections, driving the mocked clock; returns when each was closed. */
  async function paced(t: TestContext, n: number, rate: number) {
    t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 0 });
    const closedAt: number[] = [];
    const conns = Array.from({ length: n }, () => ({ close: () => closedAt.push(Date.now()) }));
    let closed: number | undefined;
    void closeAtRate(conns, rate, (conn) => conn.close()).then((count) => {
      closed = count;
    });
    while (closed === undefined) {
      await new Promise((resolve) => setImmediate(resolve)); // let the loop run up to its next wait
      t.mock.timers.tick(10);
    }
    return { closed, closedAt };
  }

  test('never runs ahead of the rate: by any time t, at most rate × t (plus one 50 ms batch) are closed', async (t) => {
    const rate = 1_000;
    const { closed, closedAt } = await paced(t, 500, rate);
    assert.equal(closed, 500);
    assert.equal(closedAt.length, 500, 'each connection closed once');
    closedAt.forEach((at, i) => {
      assert.ok(i + 1 <= (rate * (at + 50)) / 1000, `connection ${i + 1} closed at ${at} ms`);
    });
    assert.ok((closedAt.at(-1) as number) >= 400, 'the last batch goes out near 500 / rate, not at once');
  });

  test('in batches of 50 ms: 1,000 per second closes 50 connections every 50 ms', async (t) => {
    const { closedAt } = await paced(t, 200, 1_000);
    const batches = new Map<number, number>();
    for (const at of closedAt) batches.set(at, (batches.get(at) ?? 0) + 1);
    assert.deepEqual(
      [...batches],
      [
        [0, 50],
        [50, 50],
        [100, 50],
        [150, 50],
      ],
    );
  });

  test('fewer connections than one batch close at once', async (t) => {
    const { closedAt } = await paced(t, 10, 1_000);
    assert.deepEqual(closedAt, Array(10).fill(0));
  });
});
