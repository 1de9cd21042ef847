import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SharedReads } from '../../src/cluster/shared-reads.js';

describe('SharedReads', () => {
  test('a read is shared with restores that started before it was issued, never with later ones', async () => {
    const reads = new SharedReads();
    let issued = 0;
    const read = async () => ++issued;
    const first = reads.start();
    const second = reads.start();
    assert.equal(await reads.get('k', first, read), 1);
    assert.equal(await reads.get('k', second, read), 1, 'started before the read: shares it');
    const third = reads.start();
    assert.equal(await reads.get('k', third, read), 2, 'started after the read: reads again');
    assert.equal(await reads.get('k', first, read), 2, 'the newer read serves the older restore too');
    assert.equal(await reads.get('other', first, read), 3, 'another key is another read');
  });

  test('a failed read is not shared: the next restore reads again', async () => {
    const reads = new SharedReads();
    const since = reads.start();
    await assert.rejects(reads.get('k', since, () => Promise.reject(new Error('redis down'))));
    await new Promise((r) => setImmediate(r));
    assert.equal(await reads.get('k', since, async () => 'fresh'), 'fresh');
  });

  test('a finished read is kept about a second, then read again', async (t) => {
    t.mock.timers.enable({ apis: ['Date'] });
    const reads = new SharedReads();
    const since = reads.start();
    let issued = 0;
    const read = async () => ++issued;
    assert.equal(await reads.get('k', since, read), 1);
    t.mock.timers.tick(999);
    assert.equal(await reads.get('k', since, read), 1);
    t.mock.timers.tick(2);
    assert.equal(await reads.get('k', since, read), 2);
  });
});
