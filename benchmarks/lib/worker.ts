// A load-generator process (child_process.fork): holds up to ~15k lean Socket.IO clients, subscribes them
// to a room, publishes at a paced rate, measures publish→receive latency, and, for recovery storms,
// reconnects with the Socket.IO session and counts every sequence number each client received.

import type { BenchEvent } from './bench-event.js';
import { LeanSocket } from './eio-client.js';
import { Histogram } from './histogram.js';
import type { Reply, Request } from './protocol.js';

interface Client {
  socket: LeanSocket;
  urlIndex: number;
  seqs: Uint8Array | undefined;
  disconnectedAt: number;
  recovered: boolean | undefined;
  /** Highest sequence number received so far: a lower one arriving after it is out of order. */
  maxSeen: number;
}

const now = () => performance.timeOrigin + performance.now();
const clients: Client[] = [];
let hist = new Histogram();
let received = 0;
let reconnects = 0;
let lastReconnectAt = 0;
let reconnectErrors = 0;
let recoveredCount = 0;
let notRecoveredCount = 0;
let outOfOrder = 0;
let reconnectTimes: number[] = [];
let settings = { urls: [] as string[], room: '', reconnect: false, maxSeq: 0 };
const publishers = new Map<string, LeanSocket[]>();
let stopPublishing = false;
let currentPublish: Promise<Reply> | undefined;

function onBenchEvent(client: Client, event: BenchEvent): void {
  received++;
  hist.record(now() - event.sentAt);
  if (client.seqs && event.seq < client.seqs.length) {
    client.seqs[event.seq] = Math.min(255, (client.seqs[event.seq] ?? 0) + 1);
    if (event.seq < client.maxSeen) outOfOrder++;
    else client.maxSeen = event.seq;
  }
}

function newClient(urlIndex: number, localAddress: string | undefined): Client {
  const client: Client = {
    urlIndex,
    seqs: settings.maxSeq > 0 ? new Uint8Array(settings.maxSeq) : undefined,
    disconnectedAt: 0,
    recovered: undefined,
    maxSeen: -1,
    socket: undefined as unknown as LeanSocket,
  };
  client.socket = new LeanSocket({
    localAddress,
    onBenchEvent: (event) => onBenchEvent(client, event),
    onClose: () => {
      if (!settings.reconnect) return;
      client.disconnectedAt = now();
      client.recovered = undefined;
      void reconnect(client);
    },
  });
  return client;
}

async function join(socket: LeanSocket, room: string): Promise<void> {
  const [reply] = await socket.emitWithAck('join', [room]);
  if (!(reply as { ok?: boolean } | undefined)?.ok) throw new Error(`join refused: ${JSON.stringify(reply)}`);
}

/**
 * socket.io-client's reconnection delay with its defaults (reconnectionDelay 1000 ms, doubling up to
 * reconnectionDelayMax 5000 ms, randomizationFactor 0.5), so a storm is as spread out as real clients make it.
 */
function reconnectDelay(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 5000) * (0.5 + Math.random());
}

/** Reconnects like socket.io-client would after a transport close: backoff, next URL on failure. */
async function reconnect(client: Client): Promise<void> {
  const session = client.socket.session();
  for (let attempt = 0; attempt < 30; attempt++) {
    await sleep(reconnectDelay(attempt));
    client.urlIndex = (client.urlIndex + 1) % settings.urls.length;
    try {
      // 20 s: socket.io-client's default connect timeout.
      await client.socket.connect(settings.urls[client.urlIndex] as string, 20_000, session);
      client.recovered = client.socket.recovered;
      if (client.recovered) recoveredCount++;
      else notRecoveredCount++;
      if (!client.recovered) await join(client.socket, settings.room);
      reconnects++;
      lastReconnectAt = now();
      reconnectTimes.push(lastReconnectAt - client.disconnectedAt);
      return;
    } catch {
      reconnectErrors++;
      // A connect whose join then failed is still open: it would deliver every message a second time.
      client.socket.close();
    }
  }
}

let suspended: Array<ReturnType<LeanSocket['session']>> = [];

/** Reconnects every suspended client at once with its session; resolves once all are connected. */
async function resume(url: string, concurrency: number): Promise<Reply> {
  let next = 0;
  let recovered = 0;
  let failed = 0;
  const one = async () => {
    while (next < clients.length) {
      const i = next++;
      const client = clients[i] as Client;
      try {
        await client.socket.connect(url, 20_000, suspended[i]);
        if (client.socket.recovered) recovered++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, one));
  return { recovered, failed };
}

async function connectMany(req: Extract<Request, { cmd: 'connect' }>): Promise<Reply> {
  settings = { urls: req.urls, room: req.room, reconnect: req.reconnect ?? false, maxSeq: req.maxSeq ?? 0 };
  const started = now();
  let connected = 0;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const one = async () => {
    while (next < req.count) {
      const i = next++;
      const client = newClient(
        (req.urlOffset + i) % (req.spread ?? req.urls.length),
        req.localAddresses[(req.addressOffset + i) % req.localAddresses.length],
      );
      try {
        await client.socket.connect(req.urls[client.urlIndex] as string, 20_000);
        await join(client.socket, req.room);
        clients.push(client);
        connected++;
      } catch (err) {
        client.socket.close();
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: req.concurrency }, one));
  return { connected, failed, firstError, elapsedMs: now() - started };
}

async function publish(req: Extract<Request, { cmd: 'publish' }>): Promise<Reply> {
  const key = req.urls.join(',');
  let sockets = publishers.get(key);
  if (!sockets) {
    sockets = [];
    for (let i = 0; i < req.publishers; i++) {
      const s = new LeanSocket();
      await s.connect(req.urls[i % req.urls.length] as string);
      sockets.push(s);
    }
    publishers.set(key, sockets);
  }
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  let seq = req.seqStart;
  const started = now();
  const ackLatency = new Histogram();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = now() - started;
      const due = Math.min(
        Math.floor((req.rate * Math.min(elapsed, req.durationMs)) / 1000),
        req.maxMessages,
      );
      while (sent + skipped < due) {
        if (inFlight >= req.maxInFlight) {
          skipped++;
          continue;
        }
        const socket = sockets[(sent + skipped) % sockets.length] as LeanSocket;
        const t = now();
        const data = { t, s: seq++ };
        sent++;
        inFlight++;
        socket.emitWithAck('publish', [{ room: req.room, event: 'm', data }]).then(
          ([reply]) => {
            inFlight--;
            if ((reply as { ok?: boolean } | undefined)?.ok) {
              acked++;
              ackLatency.record(now() - t);
            } else failed++;
          },
          () => {
            inFlight--;
            failed++;
          },
        );
      }
      if (stopPublishing || elapsed >= req.durationMs || sent + skipped >= req.maxMessages) {
        clearInterval(tick);
        // Let the last acks arrive (bounded).
        const waitStarted = now();
        const drain = setInterval(() => {
          if (inFlight === 0 || now() - waitStarted > 10_000) {
            clearInterval(drain);
            resolve();
          }
        }, 5);
      }
    }, 5);
  });
  return {
    sent,
    acked,
    failed,
    skipped,
    elapsedMs: now() - started,
    nextSeq: seq,
    ackP50Ms: ackLatency.quantile(0.5),
    ackP99Ms: ackLatency.quantile(0.99),
  };
}

function seqReport(expected: number): Reply {
  let lost = 0;
  let missingWhileDisconnected = 0;
  let duplicated = 0;
  let clientsWithLoss = 0;
  let recovered = 0;
  let notRecovered = 0;
  let disconnected = 0;
  for (const c of clients) {
    if (!c.socket.connected) disconnected++;
    if (c.recovered === true) recovered++;
    else if (c.recovered === false) notRecovered++;
    if (!c.seqs) continue;
    let missing = 0;
    for (let s = 0; s < expected; s++) {
      const n = c.seqs[s] ?? 0;
      if (n === 0) missing++;
      else if (n > 1) duplicated += n - 1;
    }
    // A client still disconnected has not lost what it missed: it recovers it when it comes back.
    if (!c.socket.connected) missingWhileDisconnected += missing;
    else {
      lost += missing;
      if (missing > 0) clientsWithLoss++;
    }
  }
  return {
    clients: clients.length,
    lost,
    missingWhileDisconnected,
    duplicated,
    clientsWithLoss,
    recovered,
    notRecovered,
    disconnected,
    outOfOrder,
  };
}

function stats(): Reply {
  return {
    received,
    hist: hist.toJSON(),
    connected: clients.filter((c) => c.socket.connected).length,
    reconnects,
    reconnectErrors,
    recoveredCount,
    notRecoveredCount,
    lastReconnectAt,
    pending: clients.filter((c) => c.recovered === undefined && c.disconnectedAt > 0).length,
    onUrl: settings.urls.map((_, i) => clients.filter((c) => c.socket.connected && c.urlIndex === i).length),
  };
}

async function handle(req: Request): Promise<Reply> {
  switch (req.cmd) {
    case 'connect':
      return connectMany(req);
    case 'publish':
      stopPublishing = false;
      currentPublish = publish(req);
      return currentPublish;
    case 'stop-publish':
      stopPublishing = true;
      return (await currentPublish) ?? {};
    case 'reset':
      hist = new Histogram();
      received = 0;
      return {};
    case 'stats':
      return stats();
    case 'seq-report':
      return seqReport(req.expected);
    case 'reconnect-times': {
      const times = reconnectTimes;
      reconnectTimes = [];
      return { times };
    }
    case 'suspend': {
      settings.reconnect = false;
      suspended = clients.map((c) => c.socket.session());
      for (const c of clients) c.socket.close();
      return { suspended: suspended.filter(Boolean).length };
    }
    case 'resume':
      return resume(req.url, req.concurrency);
    case 'close':
      settings.reconnect = false;
      for (const c of clients) c.socket.close();
      for (const list of publishers.values()) for (const s of list) s.close();
      clients.length = 0;
      publishers.clear();
      return {};
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.on('message', (msg: { id: number; req: Request }) => {
  handle(msg.req).then(
    (reply) => process.send?.({ id: msg.id, reply }),
    (err: unknown) => process.send?.({ id: msg.id, error: String((err as Error).message ?? err) }),
  );
});
// The parent going away (even by kill -9) must not leave a load generator behind.
process.on('disconnect', () => process.exit(0));
