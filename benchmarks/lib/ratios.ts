// The goals as ratios measured side by side in one run: uws/ws, relay/seed, Streams/Pub/Sub, relay/floor
// (the raw uWS floor server), and the shape of the cross-instance tail.
export type Results = Record<string, Record<string, unknown>>;
type Fig = Record<string, number | undefined>;

export interface Goal {
  /** Key in `ratios`. */
  key: string;
  label: string;
  goal: string;
  met: (value: number) => boolean;
}

/** The ratios that carry a goal, in report order; the other ratios are context. */
export const GOALS: Goal[] = [
  {
    key: 'idleRssUwsOverWs',
    label: 'idle RSS per connection, uws / ws',
    goal: '≤ 0.5',
    met: (v) => v <= 0.5,
  },
  {
    key: 'idleRssUwsOverSeed',
    label: 'idle RSS per connection, uws / seed',
    goal: '≤ 0.5',
    met: (v) => v <= 0.5,
  },
  {
    key: 'roomBroadcastUwsOverWs',
    label: 'room-broadcast delivered/s at saturation, uws / ws',
    goal: '≥ 2',
    met: (v) => v >= 2,
  },
  {
    key: 'roomBroadcastUwsOverSeed',
    label: 'room-broadcast delivered/s at saturation, uws / seed',
    goal: '> 1',
    met: (v) => v > 1,
  },
  {
    key: 'roomBroadcastUwsOverFloor',
    label: 'room-broadcast delivered/s at saturation, uws / raw uWS floor',
    goal: '≥ 0.5',
    met: (v) => v >= 0.5,
  },
  { key: 'crossInstanceP99UwsMs', label: 'cross-instance p99, uws, ms', goal: '< 10', met: (v) => v < 10 },
  {
    key: 'crossInstanceP99UwsOverWs',
    label: 'cross-instance p99, uws / ws (headline rate)',
    goal: '≤ 1',
    met: (v) => v <= 1,
  },
  {
    key: 'crossInstanceP99UwsOverWsWorstRate',
    label: 'cross-instance p99, uws / ws, at the rate of the ladder where it is highest',
    goal: '≤ 1',
    met: (v) => v <= 1,
  },
  {
    key: 'crossInstanceP99OverP50Uws',
    label: 'cross-instance p99 / p50, uws (headline rate)',
    goal: '≤ 2.5',
    met: (v) => v <= 2.5,
  },
  {
    key: 'crossInstanceP99OverP50Uws200',
    label: 'cross-instance p99 / p50, uws at 200 publishes/s',
    goal: '≤ 2.5',
    met: (v) => v <= 2.5,
  },
  { key: 'crossInstanceP99WsMs', label: 'cross-instance p99, ws, ms', goal: '< 10', met: (v) => v < 10 },
];

export function ratios(s: Results): Record<string, number | boolean | null> {
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
  const floor = s['baseline-seed']?.['floor-uws'] as Record<string, Fig | null> | undefined;
  type Step = { publishRate: number; p50Ms: number; p99Ms: number };
  const stepsOf = (fig: Fig | undefined) => (fig as { steps?: Step[] } | undefined)?.steps ?? [];
  const wsStep = (rate: number) => stepsOf(ciW).find((w) => w.publishRate === rate);
  const uwsOverWs = stepsOf(ciU).flatMap((u) => {
    const w = wsStep(u.publishRate);
    const r = div(u.p99Ms, w?.p99Ms);
    return r === null ? [] : [r];
  });
  const uws200 = stepsOf(ciU).find((u) => u.publishRate === 200);
  const out: Record<string, number | null> = {
    idleRssUwsOverWs: div(idleU?.rssBytesPerConnection, idleW?.rssBytesPerConnection),
    idleHeapUwsOverWs: div(idleU?.heapBytesPerConnection, idleW?.heapBytesPerConnection),
    idleRssUwsOverSeed: div(idleU?.rssBytesPerConnection, seed?.['idle-connections']?.rssBytesPerConnection),
    idleRssWsOverSeed: div(idleW?.rssBytesPerConnection, seed?.['idle-connections']?.rssBytesPerConnection),
    idleClusterRssUwsOverWs: div(
      get('idle-cluster', 'uws')?.rssBytesPerConnection,
      get('idle-cluster', 'ws')?.rssBytesPerConnection,
    ),
    roomBroadcastUwsOverWs: div(rbU?.deliveredPerSecond, rbW?.deliveredPerSecond),
    roomBroadcastUwsOverSeed: div(rbU?.deliveredPerSecond, seed?.['room-broadcast']?.deliveredPerSecond),
    roomBroadcastWsOverSeed: div(rbW?.deliveredPerSecond, seed?.['room-broadcast']?.deliveredPerSecond),
    crossInstanceP99UwsMs: ciU?.p99Ms ?? null,
    crossInstanceP99WsMs: ciW?.p99Ms ?? null,
    crossInstanceP99UwsOverWs: div(ciU?.p99Ms, ciW?.p99Ms),
    crossInstanceP99UwsOverWsWorstRate: uwsOverWs.length ? Math.max(...uwsOverWs) : null,
    crossInstanceP99OverP50Uws: div(ciU?.p99Ms, ciU?.p50Ms),
    crossInstanceP99OverP50Uws200: div(uws200?.p99Ms, uws200?.p50Ms),
    crossInstanceP99OverP50Ws: div(ciW?.p99Ms, ciW?.p50Ms),
    idleRssUwsOverFloor: div(
      idleU?.rssBytesPerConnection,
      floor?.['idle-connections']?.rssBytesPerConnection,
    ),
    roomBroadcastUwsOverFloor: div(rbU?.deliveredPerSecond, floor?.['room-broadcast']?.deliveredPerSecond),
    crossInstanceP99UwsOverFloor: div(ciU?.p99Ms, floor?.['cross-instance']?.p99Ms),
    crossInstanceP99UwsOverSeed: div(ciU?.p99Ms, seed?.['cross-instance']?.p99Ms),
    crossInstanceP99StreamsOverPubsubUws: div(ciU?.p99Ms, pubsubUws?.p99Ms),
    crossInstanceDeliveredStreamsOverPubsubUws: div(ciU?.deliveredPerSecond, pubsubUws?.deliveredPerSecond),
  };
  const storm = (k: string) => {
    const r = get('recovery-storm', k);
    // The goal: every client recovered, nothing lost or duplicated, all back within 5 s.
    return r
      ? r.recovered === r.clients &&
          r.lost === 0 &&
          r.duplicated === 0 &&
          (r.outOfOrder ?? 0) === 0 &&
          (r.secondsToRecoverAll ?? Number.POSITIVE_INFINITY) <= 5
      : null;
  };
  const goals: Record<string, boolean | null> = {};
  for (const g of GOALS) {
    const v = out[g.key];
    goals[`goal:${g.key}`] = v === null || v === undefined ? null : g.met(v);
  }
  return { ...out, ...goals, 'goal:recoveryStormUws': storm('uws'), 'goal:recoveryStormWs': storm('ws') };
}
