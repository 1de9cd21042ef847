// The runner's side of the load generators: forks worker processes and talks to them over IPC.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { exited, track } from '../../test/helpers/processes.js';
import { Histogram } from './histogram.js';
import type { Reply, Request } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** Sockets one load-generator process holds at most (the open-files limit is 20000 per process). */
export const MAX_SOCKETS_PER_WORKER = 15_000;
/**
 * Loopback source addresses: ~28k ephemeral ports each. 32 of them keep ports free even with the last
 * scenario's 54k closed sockets still in TIME_WAIT (60 s).
 */
export const LOCAL_ADDRESSES = Array.from({ length: 32 }, (_, i) => `127.0.0.${i + 1}`);

/**
 * Extra Node options for the load-generator processes, for profiling them as the servers are profiled
 * (`BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof-gen"`; they exit on their own when stopped).
 */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);

export class LoadWorker {
  private nextId = 0;
  private pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: { id: number; reply?: Reply; error?: string }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p?.reject(new Error(msg.error));
      else p?.resolve(msg.reply ?? {});
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load worker exited with ${code}`));
      this.pending.clear();
    });
  }

  request(req: Request): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, req });
    });
  }

  async stop(): Promise<void> {
    await this.request({ cmd: 'close' }).catch(() => {});
    // Disconnected, it exits by itself (writing its profile, if asked for one); killed if it has not soon.
    if (this.child.connected) this.child.disconnect();
    const timer = new Promise((resolve) => setTimeout(resolve, 5_000).unref());
    await Promise.race([exited(this.child), timer]);
    this.child.kill('SIGKILL');
  }
}

export function startWorkers(n: number): LoadWorker[] {
  return Array.from(
    { length: n },
    () =>
      new LoadWorker(
        track(
          fork(WORKER, [], {
            execArgv: [...WORKER_NODE_ARGS, '--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        ),
      ),
  );
}

export async function stopWorkers(workers: LoadWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}

/** Connects `count` clients spread evenly over `workers`, servers and source addresses; all join `room`. */
export async function connectClients(
  workers: LoadWorker[],
  opts: {
    urls: string[];
    count: number;
    room: string;
    reconnect?: boolean;
    maxSeq?: number;
    spread?: number;
  },
): Promise<{ connected: number; failed: number; elapsedMs: number; firstError?: string }> {
  const per = Math.ceil(opts.count / workers.length);
  if (per > MAX_SOCKETS_PER_WORKER) throw new Error(`${per} sockets per load worker is over the limit`);
  const started = performance.now();
  const replies = await Promise.all(
    workers.map((w, i) =>
      w.request({
        cmd: 'connect',
        urls: opts.urls,
        count: Math.max(0, Math.min(per, opts.count - i * per)),
        room: opts.room,
        localAddresses: LOCAL_ADDRESSES,
        urlOffset: i * per,
        addressOffset: i,
        concurrency: 100,
        reconnect: opts.reconnect ?? false,
        maxSeq: opts.maxSeq ?? 0,
        ...(opts.spread !== undefined ? { spread: opts.spread } : {}),
      }),
    ),
  );
  const firstError = replies.map((r) => r.firstError).find((e) => e !== undefined);
  return {
    connected: sum(replies, 'connected'),
    failed: sum(replies, 'failed'),
    elapsedMs: performance.now() - started,
    ...(typeof firstError === 'string' ? { firstError } : {}),
  };
}

export interface MergedStats {
  received: number;
  hist: Histogram;
  connected: number;
  reconnects: number;
  reconnectErrors: number;
  recovered: number;
  notRecovered: number;
  pending: number;
  /** Connected clients per URL index of the last connect request. */
  onUrl: number[];
  lastReconnectAt: number;
}

export async function collectStats(workers: LoadWorker[]): Promise<MergedStats> {
  const replies = await Promise.all(workers.map((w) => w.request({ cmd: 'stats' })));
  const hist = new Histogram();
  for (const r of replies) hist.merge(new Histogram(r.hist as number[]));
  return {
    received: sum(replies, 'received'),
    hist,
    connected: sum(replies, 'connected'),
    reconnects: sum(replies, 'reconnects'),
    reconnectErrors: sum(replies, 'reconnectErrors'),
    recovered: sum(replies, 'recoveredCount'),
    notRecovered: sum(replies, 'notRecoveredCount'),
    pending: sum(replies, 'pending'),
    onUrl: replies.reduce<number[]>((acc, r) => {
      (r.onUrl as number[]).forEach((n, i) => {
        acc[i] = (acc[i] ?? 0) + n;
      });
      return acc;
    }, []),
    lastReconnectAt: Math.max(...replies.map((r) => Number(r.lastReconnectAt))),
  };
}

export async function resetStats(workers: LoadWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.request({ cmd: 'reset' })));
}

export function sum(replies: Reply[], key: string): number {
  return replies.reduce((total, r) => total + Number(r[key] ?? 0), 0);
}
