// The benchmark suite: `npm run bench [-- --quick] [--out FILE] [--only a,b] [--compare URL]`.
// Every scenario runs for both transports in the same run, alternating which goes first, and reports
// ratios measured side by side. Servers and load generators are separate processes on loopback.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { progress } from './lib/progress.js';
import { RELAY_UWS, RELAY_WS, SEED_UWS, SEED_WS, type Target } from './lib/targets.js';
import { writeReport } from './report.js';
import { type BroadcastPlan, broadcast, measureBroadcast } from './scenarios/broadcast.js';
import { idleConnections } from './scenarios/idle.js';
import { type RecoveryPlan, recoveryStorm } from './scenarios/recovery.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    compare: { type: 'string' },
    report: { type: 'string' },
  },
});
const quick = values.quick;
const SCENARIOS = ['idle-connections', 'room-broadcast', 'cross-instance', 'recovery-storm', 'baseline-seed'];
const only = new Set(values.only ? values.only.split(',') : SCENARIOS);

interface Plan {
  idleSteps: number[];
  roomBroadcast: BroadcastPlan;
  crossInstance: BroadcastPlan;
  recovery: RecoveryPlan;
}

const PLANS: Record<'quick' | 'full', Plan> = {
  quick: {
    idleSteps: [10_000],
    roomBroadcast: {
      instances: 1,
      subscribers: 500,
      rates: [100, 200, 400, 800, 1600],
      stepMs: 2500,
      subscriberWorkers: 2,
      headline: 'max',
    },
    crossInstance: {
      instances: 3,
      subscribers: 600,
      rates: [25, 100],
      stepMs: 2500,
      subscriberWorkers: 2,
      headline: 100,
    },
    recovery: { clients: 1000, publishRate: 50, drainRate: 1000 },
  },
  full: {
    idleSteps: [2500, 5000, 10_000, 19_000],
    roomBroadcast: {
      instances: 1,
      subscribers: 1000,
      rates: [50, 100, 200, 400, 800, 1600],
      stepMs: 5000,
      subscriberWorkers: 2,
      headline: 'max',
    },
    crossInstance: {
      instances: 3,
      subscribers: 3000,
      rates: [25, 50, 100, 200, 400],
      stepMs: 5000,
      subscriberWorkers: 2,
      headline: 100,
    },
    recovery: { clients: 5000, publishRate: 100, drainRate: 1000 },
  },
};

type Results = Record<string, Record<string, unknown>>;

async function main(): Promise<void> {
  const startedAt = new Date();
  const plan = PLANS[quick ? 'quick' : 'full'];
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    /** Other load on the machine skews throughput and latency; recorded at the start and the end. */
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  if (values.compare) {
    await compare(values.compare, plan, machine);
    return;
  }
  const scenarios: Results = {};
  let order = 0;
  // Alternate which transport goes first, so neither always runs on a warmer (or hotter) machine.
  const both = (): Target[] => (order++ % 2 === 0 ? [RELAY_UWS, RELAY_WS] : [RELAY_WS, RELAY_UWS]);
  const run = async <T>(name: string, targets: Target[], fn: (t: Target) => Promise<T>) => {
    const entry: Record<string, unknown> = scenarios[name] ?? {};
    scenarios[name] = entry;
    for (const t of targets) {
      progress(`${name}: ${t.key}`);
      entry[t.key] = await fn(t);
    }
  };

  if (only.has('idle-connections')) {
    await run('idle-connections', both(), (t) => idleConnections(t, plan.idleSteps));
  }
  if (only.has('room-broadcast')) {
    await run('room-broadcast', both(), (t) => broadcast(t, plan.roomBroadcast));
  }
  if (only.has('cross-instance')) {
    await run('cross-instance', both(), (t) => broadcast(t, plan.crossInstance));
  }
  if (only.has('recovery-storm')) {
    await run('recovery-storm', both(), (t) => recoveryStorm(t, plan.recovery));
  }
  if (only.has('baseline-seed')) {
    // The seeds' deployment (ws + classic Pub/Sub) on the same loads; Pub/Sub on uWS isolates the adapter.
    const seed: Record<string, Record<string, unknown>> = {};
    scenarios['baseline-seed'] = seed;
    progress('baseline-seed: pubsub-ws');
    seed['pubsub-ws'] = {
      'idle-connections': only.has('idle-connections')
        ? await idleConnections(SEED_WS, plan.idleSteps)
        : null,
      'room-broadcast': await broadcast(SEED_WS, plan.roomBroadcast),
      'cross-instance': await broadcast(SEED_WS, plan.crossInstance),
    };
    progress('streams-vs-pubsub: pubsub-uws');
    seed['pubsub-uws'] = { 'cross-instance': await broadcast(SEED_UWS, plan.crossInstance) };
    const cross = scenarios['cross-instance'] ?? {};
    scenarios['streams-vs-pubsub'] = {
      'streams-uws': cross.uws ?? null,
      'streams-ws': cross.ws ?? null,
      'pubsub-uws': seed['pubsub-uws']['cross-instance'],
      'pubsub-ws': seed['pubsub-ws']['cross-instance'],
    };
  }

  const result = {
    date: startedAt.toISOString(),
    machine,
    quick,
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    plan,
    scenarios,
    ratios: ratios(scenarios),
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  let reportDir = values.report;
  if (values.out) {
    if (values.out === '-') process.stdout.write(json);
    else await writeFile(values.out, json);
  }
  if (!quick && !values.out) {
    reportDir ??= new URL('./results/', import.meta.url).pathname;
    await mkdir(reportDir, { recursive: true });
  }
  if (reportDir) {
    const stem = startedAt.toISOString().slice(0, 10);
    await mkdir(reportDir, { recursive: true });
    await writeFile(`${reportDir}/${stem}.json`, json);
    // Committed results must pass `biome check .` like everything else in the repository.
    spawnSync('npx', ['biome', 'format', '--write', `${reportDir}/${stem}.json`], { stdio: 'ignore' });
    const files = await writeReport(result, reportDir, stem);
    progress(`report: ${[`${stem}.json`, ...files].map((f) => `${reportDir}/${f}`).join(', ')}`);
  }
  progress(`done in ${result.durationSeconds} s`);
}

type Fig = Record<string, number | undefined>;

/** The goals of issue 5 as ratios (uws/ws, relay/seed, streams/pubsub) from this run. */
function ratios(s: Results): Record<string, number | boolean | null> {
  const get = (scenario: string, key: string): Fig | undefined => s[scenario]?.[key] as Fig | undefined;
  const seed = s['baseline-seed']?.['pubsub-ws'] as Record<string, Fig | null> | undefined;
  const div = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && b !== 0 ? Math.round((a / b) * 1000) / 1000 : null;
  const idleU = get('idle-connections', 'uws');
  const idleW = get('idle-connections', 'ws');
  const rbU = get('room-broadcast', 'uws');
  const rbW = get('room-broadcast', 'ws');
  const ciU = get('cross-instance', 'uws');
  const ciW = get('cross-instance', 'ws');
  const pubsubUws = (s['baseline-seed']?.['pubsub-uws'] as Record<string, Fig> | undefined)?.[
    'cross-instance'
  ];
  const out = {
    idleRssUwsOverWs: div(idleU?.rssBytesPerConnection, idleW?.rssBytesPerConnection),
    idleHeapUwsOverWs: div(idleU?.heapBytesPerConnection, idleW?.heapBytesPerConnection),
    idleRssUwsOverSeed: div(idleU?.rssBytesPerConnection, seed?.['idle-connections']?.rssBytesPerConnection),
    idleRssWsOverSeed: div(idleW?.rssBytesPerConnection, seed?.['idle-connections']?.rssBytesPerConnection),
    roomBroadcastUwsOverWs: div(rbU?.deliveredPerSecond, rbW?.deliveredPerSecond),
    roomBroadcastUwsOverSeed: div(rbU?.deliveredPerSecond, seed?.['room-broadcast']?.deliveredPerSecond),
    roomBroadcastWsOverSeed: div(rbW?.deliveredPerSecond, seed?.['room-broadcast']?.deliveredPerSecond),
    crossInstanceP99UwsOverWs: div(ciU?.p99Ms, ciW?.p99Ms),
    crossInstanceP99UwsOverSeed: div(ciU?.p99Ms, seed?.['cross-instance']?.p99Ms),
    crossInstanceP99StreamsOverPubsubUws: div(ciU?.p99Ms, pubsubUws?.p99Ms),
    crossInstanceDeliveredStreamsOverPubsubUws: div(ciU?.deliveredPerSecond, pubsubUws?.deliveredPerSecond),
  };
  const storm = (k: string) => get('recovery-storm', k) as Fig | undefined;
  const stormOk = (k: string) => {
    const r = storm(k);
    return r ? r.recovered === r.clients && r.lost === 0 && r.duplicated === 0 : null;
  };
  return {
    ...out,
    goalIdleMemoryUwsHalfOfWs: out.idleRssUwsOverWs === null ? null : out.idleRssUwsOverWs <= 0.5,
    goalBroadcastUwsTwiceWs: out.roomBroadcastUwsOverWs === null ? null : out.roomBroadcastUwsOverWs >= 2,
    goalCrossInstanceP99Under10msUws: ciU?.p99Ms === undefined ? null : ciU.p99Ms < 10,
    goalCrossInstanceP99Under10msWs: ciW?.p99Ms === undefined ? null : ciW.p99Ms < 10,
    goalRecoveryStormUws: stormOk('uws'),
    goalRecoveryStormWs: stormOk('ws'),
  };
}

/** --compare URL: the idle and broadcast loads against any Socket.IO server with `join` / `publish`. */
async function compare(url: string, plan: Plan, machine: Record<string, unknown>): Promise<void> {
  const u = new URL(url);
  if (!['http:', 'https:'].includes(u.protocol))
    throw new Error(`--compare needs an http(s) URL, got ${url}`);
  progress(`compare: room-broadcast against ${url}`);
  const result = {
    date: new Date().toISOString(),
    machine,
    quick,
    compare: url,
    scenarios: { 'room-broadcast': { target: await measureBroadcast([url], plan.roomBroadcast) } },
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out && values.out !== '-') await writeFile(values.out, json);
  else process.stdout.write(json);
}

const cleanup = () => process.exit(130);
process.once('SIGINT', cleanup);
process.once('SIGTERM', cleanup);
try {
  await main();
} finally {
  // test/helpers/processes.ts kills every tracked server and worker on exit.
  process.exit(process.exitCode ?? 0);
}
