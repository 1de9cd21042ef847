// End-to-end ack latency through each upstream kind, and how long a crashed worker's jobs take to come
// back. A client emits an event with an ack; the relay calls an HTTP function (served here, signature
// checked) or queues it for a worker process (edge-relay/backend); the ack is timed at the client.
// Then a worker holding jobs is kill -9ed and the time until a second worker's acks arrive is measured.
// Usage: node --import tsx benchmarks/upstream.ts [calls] (default 2000 per load).
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'socket.io-client';
import { client, closeClients } from '../test/helpers/clients.js';
import { startFunctionServer } from '../test/helpers/function-server.js';
import { exited, jsonLines, track, waitFor } from '../test/helpers/processes.js';
import { startRedis } from '../test/helpers/redis.js';
import { startRelay, writeConfig } from '../test/helpers/relay.js';
import { Histogram } from './lib/histogram.js';

const calls = Number(process.argv[2] ?? 2000);
const SECRET = 'bench-function-secret';
const WORKER = fileURLToPath(new URL('./lib/queue-worker.ts', import.meta.url));

const fn = await startFunctionServer(SECRET, (call, reply) =>
  reply(200, call.type === 'event' ? { ack: [{ n: call.args?.[0].n }] } : {}),
);

const config = writeConfig({
  namespaces: {
    '/fn': { upstream: { http: { url: fn.url, secret: SECRET, timeoutMs: 5000 } } },
    '/jobs': { upstream: { queue: { timeoutMs: 60_000 } } },
  },
});

interface Worker {
  child: ChildProcess;
  lines: Array<{ ready?: boolean; held?: number }>;
}

function startWorker(redisUrl: string, name: string, mode: string, claimIdleMs: number): Promise<Worker> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', WORKER, redisUrl, name, mode, String(claimIdleMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const lines = jsonLines<Worker['lines'][number]>(child);
  return waitFor(`worker ${name} ready`, () => lines.some((l) => l.ready) && { child, lines }, 20_000);
}

/** `clients` sockets each emit `task` and await its ack, one after another, until `total` acks are in. */
async function measure(sockets: Socket[], total: number) {
  const histogram = new Histogram();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    sockets.map(async (socket) => {
      while (next < total) {
        const n = next++;
        const sent = performance.now();
        const ack = await socket.timeout(10_000).emitWithAck('task', { n });
        if (ack?.n !== n) throw new Error(`ack for ${n} carried ${JSON.stringify(ack)}`);
        histogram.record(performance.now() - sent);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    clients: sockets.length,
    acks: total,
    acksPerSecond: Math.round(total / seconds),
    p50Ms: histogram.quantile(0.5),
    p99Ms: histogram.quantile(0.99),
  };
}

async function latency(url: string, namespace: string) {
  const sockets = await Promise.all(
    Array.from({ length: 16 }, () => client(url, { transports: ['websocket'] }, namespace)),
  );
  await measure(sockets.slice(0, 1), Math.min(200, calls)); // warm-up: pools, JIT
  return {
    sequential: await measure(sockets.slice(0, 1), calls),
    concurrent16: await measure(sockets, calls),
  };
}

/** A worker takes 5 jobs and is kill -9ed; a second worker of the group claims them and acks. */
async function redelivery(url: string, redisUrl: string, claimIdleMs: number, round: number) {
  const holder = await startWorker(redisUrl, `holder-${round}`, 'hold', claimIdleMs);
  const socket = await client(url, { transports: ['websocket'] }, '/jobs');
  const arrived: number[] = [];
  let killedAt = 0;
  const sentAt = performance.now();
  const acks = Array.from({ length: 5 }, (_, n) =>
    socket
      .timeout(claimIdleMs * 3 + 10_000)
      .emitWithAck('task', { n })
      .then(() => arrived.push(performance.now())),
  );
  await waitFor(
    'the holder took 5 jobs',
    () => holder.lines.filter((l) => l.held !== undefined).length === 5,
  );
  const rescuer = await startWorker(redisUrl, `rescuer-${round}`, 'answer', claimIdleMs);
  killedAt = performance.now();
  holder.child.kill('SIGKILL');
  await exited(holder.child);
  await Promise.all(acks);
  rescuer.child.kill('SIGKILL');
  await exited(rescuer.child);
  socket.close();
  const last = Math.max(...arrived);
  // From the kill, and as the client waited: from its emit (the jobs had then been held a while).
  return {
    claimIdleMs,
    killToLastAckMs: Math.round(last - killedAt),
    emitToLastAckMs: Math.round(last - sentAt),
  };
}

const redis = await startRedis();
const relay = await startRelay(['--redis-url', redis.url, '--config', config]);
const workers: Worker[] = [];
try {
  const http = await latency(relay.url, '/fn');
  for (const name of ['w1', 'w2']) workers.push(await startWorker(redis.url, name, 'answer', 30_000));
  const queue = await latency(relay.url, '/jobs');
  for (const w of workers.splice(0)) {
    w.child.kill('SIGKILL');
    await exited(w.child);
  }
  const crashes = [];
  for (const [round, claimIdleMs] of [1000, 1000, 1000, 5000].entries()) {
    crashes.push(await redelivery(relay.url, redis.url, claimIdleMs, round));
  }
  console.log(JSON.stringify({ calls, http, queue, redelivery: crashes }, null, 2));
} finally {
  closeClients();
  for (const w of workers) w.child.kill('SIGKILL');
  await relay.stop('SIGKILL');
  await redis.stop();
  await fn.close();
  rmSync(dirname(config), { recursive: true, force: true });
}
