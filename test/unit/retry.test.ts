import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, RelayError } from '../../src/errors.js';
import { createRetrier } from '../../src/upstream/retry.js';

const fast = { firstDelayMs: 5, maxDelayMs: 20, giveUpAfterMs: 300, maxWaiting: 10 };

/** A call that fails with `code` the first `failures` times, then succeeds. */
function failing(failures: number, code: string) {
  let calls = 0;
  return {
    calls: () => calls,
    call: async () => {
      calls++;
      if (calls <= failures) throw new RelayError(code as never, 'no');
    },
  };
}

describe('retrier', () => {
  test('a call that fails with the function retries until it is delivered', async () => {
    const deliver = createRetrier(fast);
    for (const code of [
      ErrorCodes.UPSTREAM_UNAVAILABLE,
      ErrorCodes.UPSTREAM_TIMEOUT,
      ErrorCodes.UPSTREAM_STATUS,
      ErrorCodes.UPSTREAM_BUSY,
    ]) {
      const f = failing(3, code);
      assert.deepEqual(await deliver(f.call), { delivered: true, attempts: 4 }, code);
      assert.equal(f.calls(), 4);
    }
  });

  test('a call that fails for its own sake is not retried', async () => {
    const f = failing(1, ErrorCodes.BAD_REQUEST);
    assert.deepEqual(await createRetrier(fast)(f.call), {
      delivered: false,
      attempts: 1,
      code: ErrorCodes.BAD_REQUEST,
    });
  });

  test('gives up after giveUpAfterMs, with backoff between attempts', async () => {
    const f = failing(Number.POSITIVE_INFINITY, ErrorCodes.UPSTREAM_UNAVAILABLE);
    const started = Date.now();
    const outcome = await createRetrier(fast)(f.call);
    const took = Date.now() - started;
    assert.equal(outcome.delivered, false);
    assert.ok(took <= fast.giveUpAfterMs + 50, `took ${took} ms`);
    // 5, 10, 20, 20, ... ms apart: about 15 attempts in 300 ms, not thousands.
    assert.ok(f.calls() > 5 && f.calls() < 25, `${f.calls()} attempts`);
  });

  test('at most maxWaiting calls wait for a retry; one more is given up at once', async () => {
    const deliver = createRetrier({ ...fast, maxWaiting: 2 });
    const waiters = [0, 1].map(() => failing(2, ErrorCodes.UPSTREAM_UNAVAILABLE));
    const pending = waiters.map((w) => deliver(w.call));
    const extra = failing(1, ErrorCodes.UPSTREAM_UNAVAILABLE);
    assert.deepEqual(await deliver(extra.call), {
      delivered: false,
      attempts: 1,
      code: ErrorCodes.UPSTREAM_UNAVAILABLE,
    });
    for (const outcome of await Promise.all(pending)) assert.equal(outcome.delivered, true);
    // Their places are free again.
    assert.equal((await deliver(failing(1, ErrorCodes.UPSTREAM_UNAVAILABLE).call)).delivered, true);
  });
});
