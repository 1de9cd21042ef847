// room-broadcast (one instance) and cross-instance (several instances over Redis): M subscribers in one
// room, publishers emitting `publish` at paced rates; delivered messages per second and publish→receive
// latency (the payload carries the send time).
import { collectFanout } from '../lib/fanout.js';
import type { Histogram } from '../lib/histogram.js';
import {
  collectStats,
  connectClients,
  type LoadWorker,
  resetStats,
  startWorkers,
  stopWorkers,
} from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { type ServerProcess, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface BroadcastStep {
  publishRate: number;
  offeredDeliveriesPerSecond: number;
  /** Publishes actually sent per second (below publishRate when acks backed up). */
  sentPerSecond: number;
  deliveredPerSecond: number;
  /** Delivered / (acked publishes × subscribers) once the backlog drained. */
  deliveredRatio: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /**
   * Publish sent → a remote instance starts its fan-out (fanout-probe.mjs): the server side of the latency,
   * without delivery and the load generator. Null without cross-instance relays to probe.
   */
  fanoutP50Ms: number | null;
  fanoutP99Ms: number | null;
  cdf: Array<[number, number]>;
}

export interface BroadcastResult {
  instances: number;
  subscribers: number;
  deliveredPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  fanoutP50Ms: number | null;
  fanoutP99Ms: number | null;
  /** The step the headline figures come from. */
  publishRate: number;
  /** Some step fell behind: with headline 'max', deliveredPerSecond is the saturation throughput. */
  saturated: boolean;
  steps: BroadcastStep[];
}

export interface BroadcastPlan {
  instances: number;
  subscribers: number;
  rates: number[];
  stepMs: number;
  subscriberWorkers: number;
  /** Headline figures: 'max' = the step with the most deliveries/s (saturation), or the step at this rate. */
  headline: 'max' | number;
  /** Extra steps bisecting between the last rate that kept up and the first that fell behind. */
  refine: number;
}

export async function broadcast(target: Target, plan: BroadcastPlan): Promise<BroadcastResult> {
  const cluster = await startCluster(target, plan.instances, { cluster: plan.instances > 1 });
  try {
    return await measureBroadcast(
      cluster.servers.map((s) => s.url),
      plan,
      // Only the relay loads the probe (a seed would take SIGUSR1 as "start the inspector").
      target.kind === 'relay' && plan.instances > 1 ? cluster.servers : [],
    );
  } finally {
    await cluster.stop();
  }
}

/**
 * The broadcast load against already running servers (also what --compare runs against a URL); `probed`:
 * the servers whose fan-out probe to read.
 */
export async function measureBroadcast(
  urls: string[],
  plan: BroadcastPlan,
  probed: ServerProcess[] = [],
): Promise<BroadcastResult> {
  const subs = startWorkers(plan.subscriberWorkers);
  const [publisher] = startWorkers(1) as [LoadWorker];
  try {
    const c = await connectClients(subs, { urls, count: plan.subscribers, room: 'bench' });
    if (c.failed > 0) progress(`  ${c.failed} subscribers failed: ${c.firstError}`);
    const steps = await runSteps(subs, publisher, urls, c.connected, plan, probed);
    const best =
      plan.headline === 'max'
        ? steps.reduce((a, b) => (b.deliveredPerSecond > a.deliveredPerSecond ? b : a))
        : (steps.find((s) => s.publishRate === plan.headline) ?? steps[steps.length - 1]!);
    return {
      instances: urls.length,
      subscribers: c.connected,
      deliveredPerSecond: best.deliveredPerSecond,
      p50Ms: best.p50Ms,
      p99Ms: best.p99Ms,
      p999Ms: best.p999Ms,
      fanoutP50Ms: best.fanoutP50Ms,
      fanoutP99Ms: best.fanoutP99Ms,
      publishRate: best.publishRate,
      saturated: steps.some((s) => !keptUp(s)),
      steps,
    };
  } finally {
    await stopWorkers([...subs, publisher]);
  }
}

/**
 * A step kept up when this share of its offered deliveries arrived within the step and its p99 stayed
 * under KEPT_UP_P99_MS; past that, a queue is building up somewhere.
 */
const KEPT_UP = 0.95;
const KEPT_UP_P99_MS = 1000;
const keptUp = (step: BroadcastStep) =>
  step.deliveredPerSecond >= KEPT_UP * step.offeredDeliveriesPerSecond && step.p99Ms < KEPT_UP_P99_MS;
/** Longest wait for a step's backlog; a backlog still there would leak into the next step's counts. */
const BACKLOG_WAIT_MS = 8_000;

/**
 * Steps through `plan.rates` until one falls behind, then bisects between the highest rate that kept up
 * and the lowest that did not (`plan.refine` more steps): a coarse ladder alone can jump from well below
 * saturation to well past it, where delivery collapses, and miss the peak.
 */
async function runSteps(
  subs: LoadWorker[],
  publisher: LoadWorker,
  urls: string[],
  subscribers: number,
  plan: BroadcastPlan,
  probed: ServerProcess[],
): Promise<BroadcastStep[]> {
  const steps: BroadcastStep[] = [];
  let seq = 0;
  // Warm-up: JIT, connection pools, Redis stream reader.
  await publisher.request({ ...publishRequest(urls, 50, 1000), seqStart: seq });
  await sleep(500);
  let highestKeptUp = 0;
  let lowestBehind = Number.POSITIVE_INFINITY;
  let refine = plan.refine;
  let ladder = 0;
  let rate: number | undefined = plan.rates[0];
  while (rate !== undefined) {
    await resetStats(subs);
    await collectFanout(probed);
    const pub = publisher.request({ ...publishRequest(urls, rate, plan.stepMs), seqStart: seq });
    await sleep(plan.stepMs);
    const inWindow = await collectStats(subs);
    const sent = await pub;
    seq = Number(sent.nextSeq);
    const expected = Number(sent.acked) * subscribers;
    // Wait for the backlog (bounded) so the latency figures include the slowest deliveries.
    let final = await collectStats(subs);
    const deadline = Date.now() + BACKLOG_WAIT_MS;
    while (final.received < expected && Date.now() < deadline) {
      await sleep(100);
      final = await collectStats(subs);
    }
    const step = stepResult(
      rate,
      subscribers,
      plan.stepMs,
      Number(sent.sent),
      inWindow.received,
      final,
      expected,
      await collectFanout(probed),
    );
    steps.push(step);
    progress(
      `  ${urls.length} inst, ${rate} pub/s × ${subscribers}: ${step.deliveredPerSecond} delivered/s ` +
        `(ratio ${step.deliveredRatio}), p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms, p999 ${step.p999Ms} ms` +
        (step.fanoutP99Ms === null
          ? ''
          : `; to remote fan-out p50 ${step.fanoutP50Ms} ms, p99 ${step.fanoutP99Ms} ms`),
    );
    if (final.received < expected) break;
    if (keptUp(step)) highestKeptUp = Math.max(highestKeptUp, rate);
    else lowestBehind = Math.min(lowestBehind, rate);
    if (lowestBehind === Number.POSITIVE_INFINITY) {
      rate = plan.rates[++ladder];
      continue;
    }
    const mid = Math.round((highestKeptUp + lowestBehind) / 2);
    // Stop once the bracket is within 10%: closer steps differ by less than the run-to-run noise.
    rate = refine-- > 0 && highestKeptUp > 0 && mid > highestKeptUp * 1.1 ? mid : undefined;
  }
  return steps;
}

function publishRequest(urls: string[], rate: number, durationMs: number) {
  return {
    cmd: 'publish' as const,
    urls,
    room: 'bench',
    rate,
    durationMs,
    maxMessages: Math.ceil((rate * durationMs) / 1000),
    publishers: Math.max(urls.length, 4),
    maxInFlight: 5_000,
  };
}

function stepResult(
  rate: number,
  subscribers: number,
  stepMs: number,
  sent: number,
  receivedInWindow: number,
  final: { received: number; hist: Histogram },
  expected: number,
  fanout: Histogram,
): BroadcastStep {
  return {
    publishRate: rate,
    offeredDeliveriesPerSecond: rate * subscribers,
    sentPerSecond: Math.round(sent / (stepMs / 1000)),
    deliveredPerSecond: Math.round(receivedInWindow / (stepMs / 1000)),
    deliveredRatio: expected > 0 ? Math.round((final.received / expected) * 1000) / 1000 : 0,
    p50Ms: final.hist.quantile(0.5),
    p99Ms: final.hist.quantile(0.99),
    p999Ms: final.hist.quantile(0.999),
    fanoutP50Ms: fanout.total > 0 ? fanout.quantile(0.5) : null,
    fanoutP99Ms: fanout.total > 0 ? fanout.quantile(0.99) : null,
    cdf: final.hist.cdf(),
  };
}
