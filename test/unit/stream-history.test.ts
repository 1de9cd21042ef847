// The stream history a restore replays from: ordering, the covered range, fetching what lies before it
// (once for concurrent restores), trimming that never drops what a restore in progress needs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamHistory } from '../../src/cluster/stream-history.js';
import { encodeEntry } from '../../src/cluster/wire.js';

const fields = (n: number) =>
  encodeEntry({
    uid: 'u',
    nsp: '/',
    type: 3,
    data: { packet: { type: 2, data: ['m', { n }] }, opts: { rooms: ['r'], except: [], flags: {} } },
  } as never);
const id = (n: number) => `1000-${n}`;
const ids = (history: StreamHistory, after: string) => [...history.after(after)].map((e) => e.id);

/** A Redis stream as a sorted list of entries 1..n, read like XRANGE (after, upTo]; counts the reads. */
function stream(n: number) {
  const reads: string[] = [];
  const read = async (after: string, upTo: string, count: number) => {
    reads.push(`${after}..${upTo}`);
    const [lo, hi] = [Number(after.split('-')[1]), Number(upTo.split('-')[1])];
    const out = [];
    for (let i = lo + 1; i <= Math.min(hi, n) && out.length < count; i++)
      out.push({ id: id(i), message: fields(i) });
    return out;
  };
  return { read, reads };
}

test('entries after an offset, in stream order, only within what the reader covered', () => {
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 100 }, stream(0).read);
  history.start(id(5));
  for (let n = 6; n <= 10; n++) history.append(id(n), fields(n));
  assert.equal(history.last, id(10));
  assert.deepEqual(ids(history, id(7)), [id(8), id(9), id(10)]);
  assert.deepEqual(ids(history, id(10)), []);
  assert.equal(history.covers(id(5)), true);
  assert.equal(history.covers(id(4)), false);
  const [entry] = history.after(id(9));
  assert.deepEqual(
    (entry as { message: { data: { packet: { data: unknown[] } } } }).message.data.packet.data,
    ['m', { n: 10 }],
  );
});

test('what lies before the history is fetched once for concurrent restores, then replayed from memory', async () => {
  const redis = stream(10);
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 100 }, redis.read);
  history.start(id(8));
  history.append(id(9), fields(9));
  const [a, b] = await Promise.all([history.fetchFrom(id(2), 100), history.fetchFrom(id(3), 100)]);
  assert.deepEqual([a, b], [true, true]);
  assert.deepEqual(redis.reads, [`${id(2)}..${id(8)}`]);
  assert.deepEqual(ids(history, id(3)), [4, 5, 6, 7, 8, 9].map(id));
  assert.equal(await history.fetchFrom(id(0), 1), false, 'more than the limit is refused');
  assert.equal(history.covers(id(0)), false);
});

test('trimming forgets old entries but never those after a pinned offset', () => {
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 3 }, stream(0).read);
  history.start(id(0));
  const pin = history.pin(id(2));
  for (let n = 1; n <= 8; n++) history.append(id(n), fields(n));
  assert.equal(history.covers(id(2)), true, 'the pinned restore still has everything after its offset');
  assert.deepEqual(ids(history, id(2)), [3, 4, 5, 6, 7, 8].map(id));
  history.unpin(pin);
  history.append(id(9), fields(9));
  assert.equal(history.size, 3);
  assert.equal(history.covers(id(2)), false);
  assert.deepEqual(ids(history, id(6)), [7, 8, 9].map(id));
});

test('a restore waits for the reader to reach an offset it has not read yet', async () => {
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 100 }, stream(0).read);
  assert.equal(await history.whenStarted(10), false);
  history.start(id(1));
  const reached = history.reached(id(3), 1000);
  history.append(id(2), fields(2));
  history.append(id(3), fields(3));
  assert.equal(await reached, true);
  assert.equal(await history.reached(id(4), 10), false);
});

test('a replay and the live entries after it are each entry after the offset exactly once, whenever the restore lands', () => {
  // The reader appends an entry, then delivers it live to the sockets in the room. A restore takes the
  // replay (offset, last] and joins the room in one synchronous step between two reads. Wherever that step
  // falls, replay then live must be the entries after the offset: none missing, none twice, in order.
  const total = 12;
  const offset = 3;
  for (let landsAfter = offset; landsAfter <= total; landsAfter++) {
    const history = new StreamHistory({ keepMs: 60_000, maxEntries: 100 }, stream(0).read);
    history.start(id(0));
    const got: string[] = [];
    let joined = false;
    for (let n = 1; n <= total; n++) {
      history.append(id(n), fields(n));
      if (joined) got.push(id(n)); // delivered live
      if (n === landsAfter) {
        got.push(...ids(history, id(offset))); // the replay
        joined = true;
      }
    }
    assert.deepEqual(
      got,
      Array.from({ length: total - offset }, (_, i) => id(offset + 1 + i)),
      `restore after entry ${landsAfter}`,
    );
  }
});

test('entries read longer ago than keepMs are forgotten, and offsets before them are no longer covered', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const history = new StreamHistory({ keepMs: 10_000, maxEntries: 100 }, stream(0).read);
  history.start(id(0));
  for (let n = 1; n <= 5; n++) history.append(id(n), fields(n));
  t.mock.timers.tick(10_001);
  history.append(id(6), fields(6)); // trimming runs as entries are read
  assert.deepEqual(ids(history, id(5)), [id(6)]);
  assert.equal(history.covers(id(4)), false, 'what a restore from there needs is gone from memory');
  assert.equal(history.covers(id(5)), true, 'everything after the newest forgotten entry is still held');
  assert.equal(history.size, 1);
});

test('an entry not in the cluster format is kept in its place with no message, and the next ones still decode', () => {
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 100 }, stream(0).read);
  history.start(id(0));
  history.append(id(1), fields(1));
  history.append(id(2), { foo: 'bar', data: '{not json' });
  history.append(id(3), fields(3));
  const entries = [...history.after(id(0))];
  assert.deepEqual(
    entries.map((e) => [e.id, e.message === undefined]),
    [
      [id(1), false],
      [id(2), true],
      [id(3), false],
    ],
  );
});

test('a fetch the trimming overtook is read again up to the new start: no hole between fetched and held', async () => {
  const redis = stream(30);
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let first = true;
  // The first read waits while the reader goes on and the history forgets its oldest entries.
  const slowRead = async (after: string, upTo: string, count: number) => {
    if (first) {
      first = false;
      await gate;
    }
    return redis.read(after, upTo, count);
  };
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 5 }, slowRead);
  history.start(id(10));
  const fetched = history.fetchFrom(id(2), 100);
  for (let n = 11; n <= 20; n++) history.append(id(n), fields(n)); // forgets 11..15
  release();
  assert.equal(await fetched, true);
  assert.deepEqual(redis.reads, [`${id(2)}..${id(10)}`, `${id(2)}..${id(15)}`]);
  assert.deepEqual(
    ids(history, id(2)),
    Array.from({ length: 18 }, (_, i) => id(3 + i)),
  );
});

test('older history is read in chunks of 1,000; more than the limit is refused and nothing is kept', async () => {
  const redis = stream(2_600);
  const history = new StreamHistory({ keepMs: 60_000, maxEntries: 10_000 }, redis.read);
  history.start(id(2_500));
  assert.equal(await history.fetchFrom(id(0), 2_000), false);
  assert.equal(history.size, 0);
  assert.equal(history.covers(id(0)), false);
  redis.reads.length = 0;
  assert.equal(await history.fetchFrom(id(0), 3_000), true);
  assert.deepEqual(redis.reads, [
    `${id(0)}..${id(2_500)}`,
    `${id(1_000)}..${id(2_500)}`,
    `${id(2_000)}..${id(2_500)}`,
  ]);
  assert.equal(history.size, 2_500);
});
