// The benchmark suite: `npm run bench [-- --quick] [--out FILE] [--only a,b] [--transport uws|ws] [--scale F]
// [--report DIR]`, or `--compare URL[,URL...]` against any deployment. Every scenario runs for both transports in the same
// run, alternating which goes first, and reports ratios measured side by side. Servers and load generators
// are separate processes on loopback; every one is killed when the run ends, however it ends.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { compare, parseCompareUrls } from './compare.js';
import { FULL, type Plan, QUICK, scaled } from './lib/plans.js';
import { progress } from './lib/progress.js';
import { type Results, ratios } from './lib/ratios.js';
import { FLOOR_UWS, labelOf, PUBSUB_UWS, RELAY_UWS, RELAY_WS, SEED_WS, type Target } from './lib/targets.js';
import { writeReport } from './report.js';
import { broadcast } from './scenarios/broadcast.js';
import { idleConnections } from './scenarios/idle.js';
import { memoryBreakdown } from './scenarios/memory-breakdown.js';
import { recoverySweep } from './scenarios/recovery.js';
import { replayCapacity } from './scenarios/replay.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    compare: { type: 'string' },
    report: { type: 'string' },
    scale: { type: 'string', default: '1' },
    /** Publish rates of the recovery-storm sweep, e.g. `--storm-rates 50,100` (default: the plan's). */
    'storm-rates': { type: 'string' },
    /** One relay transport only (`uws` or `ws`), to diagnose it; its ratios come out empty. */
    transport: { type: 'string' },
  },
});
const quick = values.quick;
const SCENARIOS = [
  'idle-connections',
  'idle-cluster',
  'memory-breakdown',
  'room-broadcast',
  'cross-instance',
  'recovery-storm',
  'replay-capacity',
  'baseline-seed',
];
const only = new Set(values.only ? values.only.split(',') : SCENARIOS);
if (values.transport && !['uws', 'ws'].includes(values.transport)) {
  throw new RangeError(`--transport: uws or ws, got ${JSON.stringify(values.transport)}`);
}
for (const name of only) {
  if (!SCENARIOS.includes(name)) throw new RangeError(`--only: unknown scenario ${JSON.stringify(name)}`);
}

function machineInfo() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    /** Other load on the machine skews throughput and latency; recorded at the start and the end. */
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

async function runScenarios(plan: Plan): Promise<Results> {
  const scenarios: Results = {};
  let order = 0;
  // Alternate which transport goes first, so neither always runs on a warmer (or hotter) machine.
  const both = (): Target[] =>
    (order++ % 2 === 0 ? [RELAY_UWS, RELAY_WS] : [RELAY_WS, RELAY_UWS]).filter(
      (t) => !values.transport || t.key === values.transport,
    );
  const run = async <T>(name: string, targets: Target[], fn: (t: Target) => Promise<T>) => {
    const entry: Record<string, unknown> = scenarios[name] ?? {};
    scenarios[name] = entry;
    for (const t of targets) {
      progress(`${name}: ${labelOf(t)}`);
      entry[t.key] = await fn(t);
    }
  };

  if (only.has('idle-connections')) {
    await run('idle-connections', both(), (t) => idleConnections(t, plan.idleSteps));
  }
  const cluster = plan.idleCluster;
  if (only.has('idle-cluster') && cluster) {
    await run('idle-cluster', both(), (t) => idleConnections(t, cluster.steps, cluster.instances));
  }
  if (only.has('memory-breakdown')) {
    await run('memory-breakdown', both(), (t) => memoryBreakdown(t, plan.memoryBreakdown));
  }
  if (only.has('room-broadcast')) {
    await run('room-broadcast', both(), (t) => broadcast(t, plan.roomBroadcast));
  }
  if (only.has('cross-instance')) {
    await run('cross-instance', both(), (t) => broadcast(t, plan.crossInstance));
  }
  if (only.has('recovery-storm')) {
    await run('recovery-storm', both(), (t) => recoverySweep(t, plan.recovery));
  }
  if (only.has('replay-capacity')) {
    await run('replay-capacity', both(), (t) => replayCapacity(t, plan.replay));
  }
  if (only.has('baseline-seed')) {
    // The seeds' deployment (ws + classic Pub/Sub) on the same loads; the relay on uWS with
    // `--adapter pubsub` isolates the adapter.
    progress(`baseline-seed: ${labelOf(SEED_WS)}`);
    const seedWs = {
      label: labelOf(SEED_WS),
      'idle-connections': only.has('idle-connections')
        ? await idleConnections(SEED_WS, plan.idleSteps)
        : null,
      'room-broadcast': await broadcast(SEED_WS, plan.roomBroadcast),
      'cross-instance': await broadcast(SEED_WS, plan.crossInstance),
    };
    progress(`streams-vs-pubsub: ${labelOf(PUBSUB_UWS)}`);
    const pubsubUws = {
      label: labelOf(PUBSUB_UWS),
      'cross-instance': await broadcast(PUBSUB_UWS, plan.crossInstance),
    };
    // The raw floor: what uWS alone does on the same loads, with Redis Pub/Sub between instances.
    progress(`raw floor: ${labelOf(FLOOR_UWS)}`);
    const floorUws = {
      label: labelOf(FLOOR_UWS),
      'idle-connections': only.has('idle-connections')
        ? await idleConnections(FLOOR_UWS, plan.idleSteps)
        : null,
      'room-broadcast': await broadcast(FLOOR_UWS, plan.roomBroadcast),
      'cross-instance': await broadcast(FLOOR_UWS, plan.crossInstance),
    };
    scenarios['baseline-seed'] = {
      [SEED_WS.key]: seedWs,
      [PUBSUB_UWS.key]: pubsubUws,
      [FLOOR_UWS.key]: floorUws,
    };
    const cross = scenarios['cross-instance'] ?? {};
    scenarios['streams-vs-pubsub'] = {
      /** Which server gave the Pub/Sub figures: the relay with `--adapter pubsub`. */
      pubsubServer: labelOf(PUBSUB_UWS),
      'streams-uws': cross.uws ?? null,
      'streams-ws': cross.ws ?? null,
      'pubsub-uws': pubsubUws['cross-instance'],
      'pubsub-ws': seedWs['cross-instance'],
    };
  }
  return scenarios;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const scale = Number(values.scale);
  const base = quick ? QUICK : scaled(FULL, scale);
  const rates = values['storm-rates']?.split(',').map(Number);
  if (rates?.some((r) => !(r > 0)))
    throw new RangeError(`--storm-rates: positive numbers, got ${values['storm-rates']}`);
  const plan = rates
    ? {
        ...base,
        recovery: {
          ...base.recovery,
          rates,
          headlineRate: rates.includes(base.recovery.headlineRate)
            ? base.recovery.headlineRate
            : (rates[rates.length - 1] as number),
        },
      }
    : base;
  const machine = machineInfo();
  const command = [
    'npm run bench',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  if (values.compare) {
    const urls = parseCompareUrls(values.compare);
    const result = { date: startedAt.toISOString(), machine, quick, command, compare: urls, plan };
    const scenarios = await compare(urls, plan);
    const durationSeconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
    await emit({ ...result, durationSeconds, loadAverageAtEnd: loadavg(), scenarios }, startedAt);
    return;
  }
  const scenarios = await runScenarios(plan);
  const result = {
    date: startedAt.toISOString(),
    machine,
    quick,
    scale,
    command,
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    plan,
    scenarios,
    ratios: ratios(scenarios),
  };
  await emit(result, startedAt);
}

/** Writes the JSON (--out), and for a full run or with --report the report files too. */
async function emit(result: Record<string, unknown>, startedAt: Date): Promise<void> {
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out === '-') process.stdout.write(json);
  else if (values.out) await writeFile(values.out, json);
  let reportDir = values.report;
  if (!quick && !values.out && !values.compare) reportDir ??= new URL('./results/', import.meta.url).pathname;
  if (!reportDir) {
    if (!values.out) process.stdout.write(json);
    progress(`done in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
    return;
  }
  // A full run owns `<date>`; quick runs and --compare reports get their own stem.
  const kind = values.compare ? '-compare' : quick ? '-quick' : '';
  const stem = `${startedAt.toISOString().slice(0, 10)}${kind}`;
  await mkdir(reportDir, { recursive: true });
  await writeFile(`${reportDir}/${stem}.json`, json);
  // Committed results must pass `biome check .` like everything else in the repository.
  spawnSync('npx', ['biome', 'format', '--write', `${reportDir}/${stem}.json`], { stdio: 'ignore' });
  const files = await writeReport(result, reportDir, stem);
  progress(`report: ${[`${stem}.json`, ...files].map((f) => `${reportDir}/${f}`).join(', ')}`);
  progress(`done in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
}

// Ctrl-C or a kill ends the run; the exit hook of test/helpers/processes.ts then kills every tracked
// server, Redis and load generator.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  process.exit(process.exitCode ?? 0);
}
