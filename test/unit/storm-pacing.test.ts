// While clients arrive, the stream reader paces an expensive live fan-out (src/cluster/stream-reader.ts)
// so their handshakes and replays get most of the thread; the signal comes from the admission gate.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { pauseAfterFanOut } from '../../src/cluster/stream-reader.js';
import { loadConfig } from '../../src/config/load.js';
import { createAdmission } from '../../src/relay/admission.js';

describe('pacing the live fan-out during a storm', () => {
  test('no pause while nobody arrives, however long the fan-out took', () => {
    assert.equal(pauseAfterFanOut(50, 1, false), 0);
  });

  test('no pause after a cheap fan-out: a lightly loaded instance delivers at once', () => {
    assert.equal(pauseAfterFanOut(1.9, 1, true), 0);
  });

  test('an expensive fan-out while clients arrive is followed by three times its length', () => {
    assert.equal(pauseAfterFanOut(10, 3, true), 30);
    assert.equal(pauseAfterFanOut(2, 1, true), 6);
  });

  test('the pause is capped: it adds to the latency of live messages', () => {
    assert.equal(pauseAfterFanOut(80, 5, true), 100);
  });

  test('a full read means the reader is behind: no pause', () => {
    assert.equal(pauseAfterFanOut(50, 100, true), 0);
  });
});

describe('admission: arriving', () => {
  const request = { headers: {} } as IncomingMessage;
  const allow = (admission: ReturnType<typeof createAdmission>) =>
    new Promise<boolean>((resolve) => admission.allowRequest(request, (_err, ok) => resolve(ok)));

  test('true for a second after an allowed handshake, false before any and after', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const admission = createAdmission(loadConfig({ argv: ['start'], env: {} }).config, () => false);
    assert.equal(admission.arriving(), false);
    assert.equal(await allow(admission), true);
    assert.equal(admission.arriving(), true);
    t.mock.timers.tick(999);
    assert.equal(admission.arriving(), true);
    t.mock.timers.tick(1);
    assert.equal(admission.arriving(), false);
  });

  test('a refused handshake (draining) does not count as arriving', async () => {
    const admission = createAdmission(loadConfig({ argv: ['start'], env: {} }).config, () => true);
    assert.equal(await allow(admission), false);
    assert.equal(admission.arriving(), false);
  });
});
