// The seeds' architecture, as a baseline: plain Socket.IO with the classic `@socket.io/redis-adapter`
// (Redis Pub/Sub, no connection state recovery), on Node's http + ws, or attached to uWebSockets.js.
// It speaks the relay's `join` / `publish` client protocol so the same load runs against both.
// Usage: node --import tsx benchmarks/seed-server.ts --transport ws|uws --redis-url URL
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: { transport: { type: 'string', default: 'ws' }, 'redis-url': { type: 'string' } },
});
const redisUrl = values['redis-url'];
if (!redisUrl) throw new Error('--redis-url is required');

const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const io = new Server({ adapter: createAdapter(pub, sub) });

type Ack = (reply: Record<string, unknown>) => void;
io.on('connection', (socket) => {
  socket.on('join', async (room: unknown, ack: Ack) => {
    if (typeof room !== 'string') return ack({ ok: false, error: { code: 'BAD_ROOM' } });
    await socket.join(room);
    ack({ ok: true });
  });
  socket.on('publish', (msg: { room?: unknown; event?: unknown; data?: unknown }, ack: Ack) => {
    if (typeof msg?.room !== 'string' || typeof msg.event !== 'string') {
      return ack({ ok: false, error: { code: 'BAD_PUBLISH' } });
    }
    io.to(msg.room).emit(msg.event, msg.data);
    ack({ ok: true });
  });
});

let port: number;
if (values.transport === 'uws') {
  // The only place outside src/transport/uws.ts that loads the uWS binary.
  const { default: uWS } = await import('uWebSockets.js');
  const app = uWS.App();
  io.attachApp(app);
  port = await new Promise<number>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (token) =>
      token ? resolve(uWS.us_socket_local_port(token)) : reject(new Error('uws listen failed')),
    ),
  );
} else {
  const server = createServer();
  io.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}
process.stdout.write(`${JSON.stringify({ msg: 'listening', port, transport: values.transport })}\n`);
