// Server processes under test: the relay CLI, the seed baseline and Redis, each on loopback, each killed
// when the benchmark ends (test/helpers/processes.ts tracks them).
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { exited } from '../../test/helpers/processes.js';
import { BIN, NODE_FLAGS, spawnListening } from '../../test/helpers/relay.js';

const GC_PRELOAD = fileURLToPath(new URL('../gc-preload.mjs', import.meta.url));
const FANOUT_PROBE = fileURLToPath(new URL('../fanout-probe.mjs', import.meta.url));
const SEED = fileURLToPath(new URL('../seed-server.ts', import.meta.url));
const FLOOR = fileURLToPath(new URL('../floor-server.ts', import.meta.url));

export type Transport = 'uws' | 'ws';

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  url: string;
  adminUrl: string | undefined;
  logs: Array<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  stop(): Promise<number | string>;
}

/** The relay binary; BENCH_RELAY_BIN points at another build (for example a checkout of a release). */
const RELAY_BIN = process.env.BENCH_RELAY_BIN ?? BIN;
/**
 * Extra Node options for every server process, for profiling a scenario, e.g.
 * `BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` (servers are stopped with SIGTERM first,
 * so the relay exits normally and Node writes the profile).
 */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** How long a stopped server may take to exit by itself before it is killed. */
const STOP_GRACE_MS = 5_000;

/** The relay CLI on loopback with the benchmark preloads (forced GC, fan-out latency probe). */
export function startRelayProcess(
  transport: Transport,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  return startServer(
    `relay-${transport}`,
    [
      ...NODE_FLAGS,
      ...SERVER_NODE_ARGS,
      '--import',
      GC_PRELOAD,
      '--import',
      FANOUT_PROBE,
      RELAY_BIN,
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--transport',
      transport,
      ...args,
    ],
    env,
  );
}

/** The seed architecture: plain Socket.IO + classic `@socket.io/redis-adapter` (see seed-server.ts). */
export function startSeedProcess(transport: Transport, redisUrl: string): Promise<ServerProcess> {
  return startServer(`seed-${transport}`, [
    ...SERVER_NODE_ARGS,
    '--import',
    'tsx',
    '--import',
    GC_PRELOAD,
    SEED,
    '--transport',
    transport,
    '--redis-url',
    redisUrl,
  ]);
}

/** The raw uWS floor (benchmarks/floor-server.ts); over Redis Pub/Sub when `redisUrl` is given. */
export function startFloorProcess(redisUrl: string | undefined): Promise<ServerProcess> {
  // The relay's Node flags: the floor is the best uWS alone can do, GC settings included.
  return startServer('floor-uws', [
    ...NODE_FLAGS,
    ...SERVER_NODE_ARGS,
    '--import',
    'tsx',
    '--import',
    GC_PRELOAD,
    FLOOR,
    ...(redisUrl ? ['--redis-url', redisUrl] : []),
  ]);
}

async function startServer(
  name: string,
  nodeArgs: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const { child, port, adminPort, logs } = await spawnListening(name, nodeArgs, {
    env,
    maxLogs: 1000,
    timeoutMs: 20_000,
  });
  return {
    name,
    child,
    pid: child.pid as number,
    url: `http://127.0.0.1:${port}`,
    adminUrl: adminPort ? `http://127.0.0.1:${adminPort}` : undefined,
    logs,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited(child);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      const code = await exited(child);
      clearTimeout(timer);
      return code;
    },
  };
}

export interface Memory {
  rssBytes: number;
  heapUsedBytes: number;
  /** The heap snapshot written after the GC, for a server started with BENCH_HEAP_SNAPSHOTS. */
  snapshot?: string;
}

/** RSS from /proc after a full GC (forced through the preload), and the heap used after that GC. */
export async function memoryAfterGc(server: ServerProcess): Promise<Memory> {
  const before = server.logs.filter((l) => l.msg === 'bench-memory').length;
  server.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  let entry: Record<string, unknown> | undefined;
  while (!entry && Date.now() < deadline) {
    await sleep(50);
    const list = server.logs.filter((l) => l.msg === 'bench-memory');
    if (list.length > before) entry = list[list.length - 1];
  }
  if (!entry) throw new Error(`${server.name} did not report memory after SIGUSR2`);
  // Let the allocator hand freed pages back before reading RSS.
  await sleep(300);
  const snapshot = typeof entry.snapshot === 'string' ? entry.snapshot : undefined;
  return { rssBytes: await rssOf(server.pid), heapUsedBytes: Number(entry.heapUsed), snapshot };
}

/** CPU time a process has used so far (user + system), seconds. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** A Prometheus metric's value summed over its series (0 when absent). */
export async function metric(server: ServerProcess, name: string): Promise<number> {
  return (await metrics(server, [name]))[0] as number;
}

/** Several metrics' values, each summed over its series (0 when absent), from one read of `/metrics`. */
export async function metrics(server: ServerProcess, names: string[]): Promise<number[]> {
  if (!server.adminUrl) return names.map(() => 0);
  const lines = (await (await fetch(`${server.adminUrl}/metrics`)).text()).split('\n');
  return names.map((name) => {
    let total = 0;
    for (const line of lines) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(' ').pop());
    }
    return total;
  });
}

/** A Prometheus metric's values by one label, e.g. failures by reason (empty when absent). */
export async function metricBy(
  server: ServerProcess,
  name: string,
  label: string,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (!server.adminUrl) return out;
  const text = await (await fetch(`${server.adminUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '';
    out[key] = (out[key] ?? 0) + Number(line.split(' ').pop());
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
