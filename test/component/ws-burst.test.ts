// The ws transport's slow-consumer bound when one stream read brings a burst (src/transport/ws.ts): the
// broadcast frames queued for a connection until the end of the read count toward what it holds. A client
// whose socket is full is dropped at the first message past the bound, not after a second bound's worth
// went into Engine.IO's buffer behind the frames (the slow-consumer e2e test once saw that in CI).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server, type Socket } from 'socket.io';
import { queuedPackets, tcpOf, webSocketOf } from '../../src/internals.js';
import { BURST_FACTOR } from '../../src/transport/backpressure.js';
import { createWsTransport } from '../../src/transport/ws.js';
import { waitFor } from '../helpers/processes.js';
import { RawWebSocket } from '../helpers/raw-eio.js';

const MAX_BACKPRESSURE = 256 * 1024;
const MESSAGE_BYTES = 64 * 1024;
/** Bounds the loop that fills the kernel's buffers (loopback takes a few MiB). */
const MOST_FILL_MESSAGES = 2_000;

/** Bytes Node still holds for a server-side socket's TCP connection: above 0, the kernel is full. */
const unsent = (socket: Socket) => tcpOf(webSocketOf(socket.conn.transport)).writableLength;

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('ws: a burst to a client whose socket is full is dropped at the first message past the bound', async (t) => {
  const transport = createWsTransport();
  const io = new Server();
  const pad = 'x'.repeat(MESSAGE_BYTES);
  /** Each drop: the bytes the guard counted, and the packets then waiting in Engine.IO's buffer. */
  const drops: Array<{ bufferedBytes: number; inEngineIo: number }> = [];
  let server: Socket | undefined;
  transport.attach(
    io,
    { contentType: 'text/plain', body: '' },
    {
      maxBytes: MAX_BACKPRESSURE,
      onSlowConsumer: ({ bufferedBytes }) =>
        drops.push({ bufferedBytes, inEngineIo: server ? queuedPackets(server.conn) : -1 }),
    },
  );
  io.on('connection', (socket) => {
    socket.join('feed');
    server = socket;
  });
  const port = await transport.listen('127.0.0.1', 0);
  const client = await RawWebSocket.open(`http://127.0.0.1:${port}`);
  t.after(async () => {
    client.close();
    transport.stopAccepting();
    await io.close().catch(() => {});
  });
  await client.connect();
  const socket = await waitFor('the server-side socket', () => server);
  client.pauseReading();

  // Messages to the socket alone (Engine.IO's path) until one stays in Node's buffer: the kernel is full,
  // Engine.IO's transport waits for that write, and what follows queues in Engine.IO's buffer.
  let filled = 0;
  while (unsent(socket) === 0 && filled < MOST_FILL_MESSAGES) {
    socket.emit('fill', pad);
    filled++;
    await turn();
  }
  assert.ok(unsent(socket) > 0, `the kernel took all ${filled} messages`);
  assert.equal(drops.length, 0, 'filling stayed under the bound');

  // One stream read's worth of broadcasts, delivered together as the stream reader does.
  const burst = 4 * BURST_FACTOR * (MAX_BACKPRESSURE / MESSAGE_BYTES);
  transport.together(() => {
    for (let n = 1; n <= burst && drops.length === 0; n++) io.to('feed').emit('big', { n, pad });
  });

  assert.equal(drops.length, 1, 'dropped once');
  const [drop] = drops as [{ bufferedBytes: number; inEngineIo: number }];
  // The frames that fit under BURST_FACTOR × the bound were queued; the first message past it, which
  // would have gone through Engine.IO, dropped the client instead of waiting there behind them.
  assert.equal(drop.inEngineIo, 0, 'no message of the burst waited in Engine.IO behind the frames');
  assert.ok(drop.bufferedBytes > BURST_FACTOR * MAX_BACKPRESSURE, `dropped at ${drop.bufferedBytes} B`);
  assert.ok(
    drop.bufferedBytes <= BURST_FACTOR * MAX_BACKPRESSURE + MESSAGE_BYTES + 1024,
    `dropped at ${drop.bufferedBytes} B`,
  );
});
