// The slow-consumer guard (src/transport/backpressure.ts) on fake Engine.IO connections: which backlogs
// drop a connection, when, and how it is closed. test/e2e/slow-consumer.test.ts runs it against clients
// that stop reading, on both transports.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import type { Server } from 'socket.io';
import {
  BURST_FACTOR,
  type EngineTransport,
  type SlowConsumer,
  SlowConsumerGuard,
} from '../../src/transport/backpressure.js';

const MAX = 1_000;
/** The guard's check period. */
const CHECK_MS = 500;

/** An Engine.IO connection as the guard sees it: packets queued, flushes, a transport, a close. */
class FakeConnection extends EventEmitter {
  readyState = 'open';
  closedWith: boolean | undefined;
  readonly transport: { name: string };
  constructor(
    readonly id: string,
    transport: 'websocket' | 'polling',
  ) {
    super();
    this.transport = { name: transport };
  }
  /** Queues one Engine.IO message of `bytes` characters (a Socket.IO EVENT packet). */
  queue(bytes: number): void {
    this.emit('packetCreate', { type: 'message', data: `2${'x'.repeat(bytes - 1)}` });
  }
  /** Queues the Socket.IO CONNECT packet of a namespace. */
  queueConnect(): void {
    this.emit('packetCreate', { type: 'message', data: '0{"sid":"abc"}' });
  }
  /** Hands the write buffer to the transport (what Engine.IO does when the client can take it). */
  flush(): void {
    this.emit('flush');
  }
  close(discard: boolean): void {
    this.closedWith = discard;
    this.readyState = 'closed';
    this.emit('close');
  }
}

function setup() {
  const dropped: SlowConsumer[] = [];
  const aborted: EngineTransport[] = [];
  /** Bytes the WebSocket library holds, per transport object. */
  const wsBuffered = new Map<object, number>();
  const guard = new SlowConsumerGuard(
    { maxBytes: MAX, onSlowConsumer: (consumer) => dropped.push(consumer) },
    {
      bufferedAmount: (conn) => wsBuffered.get(conn.transport) ?? 0,
      abort: (transport) => {
        aborted.push(transport);
      },
    },
  );
  const engine = new EventEmitter();
  guard.watch({ engine } as unknown as Server);
  const connect = (id: string, transport: 'websocket' | 'polling' = 'polling') => {
    const conn = new FakeConnection(id, transport);
    engine.emit('connection', conn);
    return conn;
  };
  /** A connection whose CONNECT has left the relay: from now on the bound applies. */
  const connected = (id: string, transport: 'websocket' | 'polling' = 'polling') => {
    const conn = connect(id, transport);
    conn.queueConnect();
    conn.flush();
    conn.queue(1); // the guard notices the CONNECT has left at the next packet or check
    conn.flush();
    return conn;
  };
  return { dropped, aborted, wsBuffered, connect, connected };
}

/** Lets the guard's deferred close (setImmediate) run. */
const closes = () => new Promise((resolve) => setImmediate(resolve));

describe('slow-consumer guard', () => {
  test(`more than ${BURST_FACTOR}× the bound queued at once drops the connection at the next packet`, async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { dropped, connected } = setup();
    const conn = connected('e1');
    conn.queue(MAX * BURST_FACTOR);
    conn.queue(1);
    assert.equal(dropped.length, 0, 'exactly the bound times the burst factor is a burst it may take');
    conn.queue(10);
    assert.deepEqual(dropped, [{ engineId: 'e1', engine: 'polling', bufferedBytes: MAX * BURST_FACTOR + 1 }]);
    assert.equal(conn.readyState, 'closing', 'nothing more is queued for it from now on');
    conn.queue(10);
    assert.equal(dropped.length, 1, 'dropped once');
    assert.equal(conn.closedWith, undefined, 'closed later: this may run inside a broadcast loop');
    await closes();
    assert.equal(conn.closedWith, true, 'a polling connection is closed at once, discarding its buffer');
  });

  test('over the bound at two checks in a row is dropped; a backlog that drains before the next check is not', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { dropped, connected } = setup();
    const stuck = connected('stuck');
    const reading = connected('reading');
    stuck.queue(MAX + 1);
    reading.queue(MAX + 1);
    t.mock.timers.tick(CHECK_MS);
    assert.equal(dropped.length, 0, 'one check over the bound is a burst');
    reading.flush();
    reading.queue(MAX);
    t.mock.timers.tick(CHECK_MS);
    assert.deepEqual(
      dropped.map((d) => d.engineId),
      ['stuck'],
    );
    reading.queue(1);
    t.mock.timers.tick(CHECK_MS);
    t.mock.timers.tick(CHECK_MS);
    assert.deepEqual(
      dropped.map((d) => d.engineId),
      ['stuck', 'reading'],
      'over the bound again at two checks in a row',
    );
  });

  test('a handshake is never cut: the bound applies only once the CONNECT has left the relay', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { dropped, connect } = setup();
    const conn = connect('slow-handshake');
    conn.queueConnect();
    conn.queue(MAX * BURST_FACTOR * 2);
    t.mock.timers.tick(CHECK_MS * 4);
    assert.equal(dropped.length, 0, 'its CONNECT is still queued');
    conn.flush();
    conn.queue(MAX * BURST_FACTOR + 1);
    conn.queue(1);
    assert.deepEqual(
      dropped.map((d) => d.engineId),
      ['slow-handshake'],
    );
  });

  test("a WebSocket's send buffer counts, and a dropped WebSocket is aborted rather than closed", async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { dropped, aborted, wsBuffered, connected } = setup();
    const conn = connected('ws1', 'websocket');
    wsBuffered.set(conn.transport, MAX + 1); // nothing in Engine.IO's buffer: all of it in the socket's
    t.mock.timers.tick(CHECK_MS);
    t.mock.timers.tick(CHECK_MS);
    assert.deepEqual(dropped, [{ engineId: 'ws1', engine: 'websocket', bufferedBytes: MAX + 1 }]);
    await closes();
    assert.deepEqual(aborted, [conn.transport]);
    assert.equal(conn.closedWith, undefined, 'not a graceful close, which would wait behind the buffer');
  });

  test('a closed connection is forgotten', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { dropped, connected } = setup();
    const conn = connected('gone');
    conn.queue(MAX + 1);
    conn.close(false);
    conn.readyState = 'open'; // were it still watched, the checks below would drop it
    t.mock.timers.tick(CHECK_MS * 3);
    assert.equal(dropped.length, 0);
  });
});
