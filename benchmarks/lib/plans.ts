// How big each scenario is in the quick run and the full run. `--scale` shrinks the full run's connection
// counts (not its rates or durations) to develop it without holding 50k+ sockets each time.
import type { BroadcastPlan } from '../scenarios/broadcast.js';
import type { MemoryBreakdownPlan } from '../scenarios/memory-breakdown.js';
import type { RecoveryPlan } from '../scenarios/recovery.js';
import type { ReplayPlan } from '../scenarios/replay.js';

export interface Plan {
  /** Idle connections on one instance, ascending (one process holds at most ~19.5k sockets here). */
  idleSteps: number[];
  /** Idle connections over several instances (totals), or null to skip. */
  idleCluster: { instances: number; steps: number[] } | null;
  /** Heap snapshots of one relay at two idle connection counts. */
  memoryBreakdown: MemoryBreakdownPlan;
  roomBroadcast: BroadcastPlan;
  crossInstance: BroadcastPlan;
  recovery: RecoveryPlan;
  replay: ReplayPlan;
}

export const QUICK: Plan = {
  idleSteps: [10_000],
  idleCluster: null,
  memoryBreakdown: { from: 500, to: 1500 },
  roomBroadcast: {
    instances: 1,
    subscribers: 500,
    rates: [100, 200, 400, 800, 1600, 3200],
    stepMs: 2500,
    subscriberWorkers: 2,
    headline: 'max',
    refine: 1,
  },
  crossInstance: {
    instances: 3,
    subscribers: 600,
    rates: [25, 100],
    stepMs: 2500,
    subscriberWorkers: 2,
    headline: 100,
    refine: 0,
  },
  recovery: { clients: 1000, rates: [50], headlineRate: 50, drainRate: 1000 },
  replay: { clients: 1000, missed: 200 },
};

export const FULL: Plan = {
  idleSteps: [2500, 5000, 10_000, 19_000],
  // 18k per instance; 4 load-generator processes of 13.5k sockets each.
  idleCluster: { instances: 3, steps: [27_000, 54_000] },
  // Snapshots of 6,000 connections stay small enough to parse in a few seconds.
  memoryBreakdown: { from: 2000, to: 6000 },
  roomBroadcast: {
    instances: 1,
    subscribers: 1000,
    // From 25: `ws` falls behind already at 100 publishes/s to 1,000 subscribers here.
    rates: [25, 50, 100, 200, 400, 800, 1600, 3200],
    stepMs: 5000,
    subscriberWorkers: 2,
    headline: 'max',
    refine: 2,
  },
  crossInstance: {
    instances: 3,
    // The quick run's load at the headline (the goal is judged there), with a longer ladder and steps:
    // three instances with the generators on 2 cores saturate `ws` near 100 publishes/s × 1,000 subscribers.
    subscribers: 600,
    rates: [25, 50, 100, 200, 400],
    stepMs: 5000,
    subscriberWorkers: 2,
    headline: 100,
    refine: 0,
  },
  // The curve, not a point: 5,000 clients at 5 to 100 publishes/s (25,000 to 500,000 deliveries/s to
  // the instance that takes the storm); the headline storm is at 50/s, a production rate. The drain rate
  // is what the receiving instance restores: a drained client misses only 1-2 s of messages, and one
  // instance restores 1,160 clients/s that each missed 500 (replay capacity).
  recovery: { clients: 5000, rates: [5, 20, 50, 100], headlineRate: 50, drainRate: 2500 },
  // 5,000 clients that each missed 500 messages (10 s at 50/s) back at once: 2.5 million packets.
  replay: { clients: 5000, missed: 500 },
};

/** The plan with every connection count multiplied by `scale` (0 < scale ≤ 1). */
export function scaled(plan: Plan, scale: number): Plan {
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`--scale must be in (0, 1], got ${scale}`);
  const n = (count: number) => Math.max(10, Math.round(count * scale));
  return {
    idleSteps: plan.idleSteps.map(n),
    idleCluster: plan.idleCluster && { ...plan.idleCluster, steps: plan.idleCluster.steps.map(n) },
    memoryBreakdown: { from: n(plan.memoryBreakdown.from), to: n(plan.memoryBreakdown.to) },
    roomBroadcast: { ...plan.roomBroadcast, subscribers: n(plan.roomBroadcast.subscribers) },
    crossInstance: { ...plan.crossInstance, subscribers: n(plan.crossInstance.subscribers) },
    recovery: { ...plan.recovery, clients: n(plan.recovery.clients) },
    replay: { ...plan.replay, clients: n(plan.replay.clients) },
  };
}
