// Storms of reconnecting clients: while they arrive, the stream reader paces an expensive live fan-out
// (src/cluster/stream-reader.ts) so their handshakes and replays get most of the thread; the admission
// gate (src/relay/admission.ts) says when they arrive, and takes at most --max-handshake-rate of them.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { pauseAfterFanOut } from '../../src/cluster/stream-reader.js';
import { loadConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { createAdmission } from '../../src/relay/admission.js';

describe('pacing the live fan-out during a storm', () => {
  test('no pause while nobody arrives, however long the fan-out took', () => {
    assert.equal(pauseAfterFanOut(50, 1, false), 0);
  });

  test('no pause after a cheap fan-out: a lightly loaded instance delivers at once', () => {
    assert.equal(pauseAfterFanOut(1.9, 1, true), 0);
  });

  test('an expensive fan-out while clients arrive is followed by six times its length', () => {
    assert.equal(pauseAfterFanOut(10, 3, true), 60);
    assert.equal(pauseAfterFanOut(2, 1, true), 12);
  });

  test('the pause is capped: it adds to the latency of live messages', () => {
    assert.equal(pauseAfterFanOut(80, 5, true), 250);
  });

  test('a full read means the reader is behind: no pause', () => {
    assert.equal(pauseAfterFanOut(50, 100, true), 0);
  });
});

const newMetrics = () => createMetrics({ instanceId: 'A', transport: 'uws' });
const request = { headers: {} } as IncomingMessage;
const allow = (admission: ReturnType<typeof createAdmission>) =>
  new Promise<boolean>((resolve) => admission.allowRequest(request, (_err, ok) => resolve(ok)));
const refusal = (admission: ReturnType<typeof createAdmission>) =>
  new Promise<string | null | undefined>((resolve) => admission.allowRequest(request, (err) => resolve(err)));

describe('admission: arriving', () => {
  test('true for a second after an allowed handshake, false before any and after', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const admission = createAdmission(
      loadConfig({ argv: ['start'], env: {} }).config,
      () => false,
      newMetrics(),
    );
    assert.equal(admission.arriving(), false);
    assert.equal(await allow(admission), true);
    assert.equal(admission.arriving(), true);
    t.mock.timers.tick(999);
    assert.equal(admission.arriving(), true);
    t.mock.timers.tick(1);
    assert.equal(admission.arriving(), false);
  });

  test('a refused handshake (draining) does not count as arriving', async () => {
    const admission = createAdmission(
      loadConfig({ argv: ['start'], env: {} }).config,
      () => true,
      newMetrics(),
    );
    assert.equal(await allow(admission), false);
    assert.equal(admission.arriving(), false);
  });
});

describe('admission: --max-handshake-rate', () => {
  const admissionAt = (rate: string, metrics = newMetrics()) =>
    createAdmission(
      loadConfig({ argv: ['start', '--max-handshake-rate', rate], env: {} }).config,
      () => false,
      metrics,
    );

  test("a second's worth is taken at once, the next is refused with a coded message, and counted", async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const metrics = newMetrics();
    const admission = admissionAt('3', metrics);
    for (let i = 0; i < 3; i++) assert.equal(await allow(admission), true, `handshake ${i + 1}`);
    assert.equal(await refusal(admission), 'RLY_ERR_ADMISSION: over --max-handshake-rate');
    const { values } = await metrics.handshakesRefused.get();
    assert.deepEqual(
      values.map((v) => [v.labels.reason, v.value]),
      [['max-handshake-rate', 1]],
    );
  });

  test("the bucket refills at the rate, and never holds more than a second's worth", async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const admission = admissionAt('4');
    for (let i = 0; i < 4; i++) await allow(admission);
    assert.equal(await allow(admission), false);
    t.mock.timers.tick(250);
    assert.equal(await allow(admission), true, 'one token after a quarter of a second at 4/s');
    assert.equal(await allow(admission), false);
    t.mock.timers.tick(60_000);
    for (let i = 0; i < 4; i++) assert.equal(await allow(admission), true);
    assert.equal(await allow(admission), false, "a long quiet spell still leaves one second's worth");
  });

  test('a refused handshake does not count as arriving', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const admission = admissionAt('1');
    assert.equal(await allow(admission), true);
    t.mock.timers.tick(999);
    assert.equal(await allow(admission), false);
    t.mock.timers.tick(1);
    assert.equal(admission.arriving(), false, 'a second after the last handshake taken');
  });

  test('unset: no limit', async () => {
    const admission = createAdmission(
      loadConfig({ argv: ['start'], env: {} }).config,
      () => false,
      newMetrics(),
    );
    for (let i = 0; i < 10_000; i++) assert.equal(await allow(admission), true);
  });
});
