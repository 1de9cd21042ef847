// The raw floor: plain uWebSockets.js with topics, no Socket.IO, Engine.IO or adapter. It speaks just enough
// of Engine.IO v4 / Socket.IO v5 for the load generator: the open packet, the CONNECT answer, and the
// relay's `join` and `publish` events with their acks. A publish is one uWS topic publish of a frame built
// once; with --redis-url it goes through Redis Pub/Sub, and every instance (the sender's too) publishes what
// it receives to its own subscribers. The relay's figures are reported as ratios to these, in the same run:
// what is left is what Socket.IO and the relay cost.
// Usage: node --import tsx benchmarks/floor-server.ts [--redis-url URL]

// The only place outside src/transport/uws.ts and the seed that loads the uWS binary.
import uWS from 'uWebSockets.js';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';

const { values } = parseArgs({ options: { 'redis-url': { type: 'string' } } });
const CHANNEL = 'floor#';

const pub = values['redis-url'] ? createClient({ url: values['redis-url'] }) : undefined;
const sub = pub?.duplicate();
if (pub && sub) await Promise.all([pub.connect(), sub.connect()]);

const app = uWS.App();
const publish = async (room: string, frame: string): Promise<void> => {
  if (pub) await pub.publish(`${CHANNEL}${room}`, frame);
  else app.publish(room, frame, false);
};
await sub?.pSubscribe(`${CHANNEL}*`, (frame, channel) => {
  app.publish(channel.slice(CHANNEL.length), frame, false);
});

interface Session {
  sid: string;
}

const ack = (ws: uWS.WebSocket<Session>, id: string, reply: unknown) => {
  if (id !== '') ws.send(`43${id}${JSON.stringify([reply])}`, false);
};

/** One Socket.IO EVENT: `42<ack id>["join", room]` or `42<ack id>["publish", { room, event, data }]`. */
async function onEvent(ws: uWS.WebSocket<Session>, text: string): Promise<void> {
  let i = 2;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  const id = text.slice(2, i);
  const [event, arg] = JSON.parse(text.slice(i)) as [string, unknown];
  if (event === 'join' && typeof arg === 'string') {
    ws.subscribe(arg);
    return ack(ws, id, { ok: true });
  }
  const message = arg as { room?: unknown; event?: unknown; data?: unknown } | undefined;
  if (event === 'publish' && typeof message?.room === 'string' && typeof message.event === 'string') {
    await publish(message.room, `42${JSON.stringify([message.event, message.data])}`);
    return ack(ws, id, { ok: true });
  }
  ack(ws, id, { ok: false, error: { code: 'FLOOR_UNKNOWN_EVENT' } });
}

app.ws<Session>('/socket.io/', {
  maxPayloadLength: 1_000_000,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    res.upgrade(
      { sid: randomBytes(15).toString('base64url') },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const { sid } = ws.getUserData();
    // No pings: the load generator answers them but does not need them, and a run is shorter than a timeout.
    ws.send(
      `0${JSON.stringify({ sid, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 })}`,
    );
  },
  message: (ws, raw, isBinary) => {
    if (isBinary) return;
    const text = Buffer.from(raw).toString();
    if (text.startsWith('40')) ws.send(`40${JSON.stringify({ sid: ws.getUserData().sid })}`, false);
    else if (text.startsWith('42')) void onEvent(ws, text).catch(() => ws.end(1011));
  },
});
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('not found');
});

const port = await new Promise<number>((resolve, reject) =>
  app.listen('127.0.0.1', 0, (token) =>
    token ? resolve(uWS.us_socket_local_port(token)) : reject(new Error('uws listen failed')),
  ),
);
process.stdout.write(`${JSON.stringify({ msg: 'listening', port, transport: 'uws' })}\n`);
// Stopped with SIGTERM like the other servers.
process.on('SIGTERM', () => process.exit(0));
