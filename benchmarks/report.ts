// The Markdown report and SVG plots of a run, and the block the "Results" section of docs/performance.md
// shows (`<date>-readme.md`, to paste as it is).
import { writeFile } from 'node:fs/promises';
import { GOALS } from './lib/ratios.js';
import { lineChart, type Series } from './lib/svg-chart.js';

type Json = Record<string, unknown>;

/** The results directory as docs/performance.md links it. */
const DOCS_RESULTS_PATH = '../benchmarks/results';

const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);

const RELAY_LABELS: Record<string, string> = {
  uws: 'relay, uws (Streams)',
  ws: 'relay, ws (Streams)',
  target: 'target',
};

/** The baselines, kept under `baseline-seed`: the seeds' stack, the relay with Pub/Sub, the raw uWS floor. */
const BASELINES = ['pubsub-ws', 'pubsub-uws', 'floor-uws'];

/** The servers measured in `scenario`, with their labels: relay transports, then the baselines. */
function serversOf(result: Json, scenario: string): Array<[string, Json]> {
  const s = result.scenarios as Json;
  const list: Array<[string, Json]> = [];
  for (const key of ['uws', 'ws', 'target']) {
    const v = at(s, scenario, key);
    if (v) list.push([key === 'target' ? String(result.compare) : (RELAY_LABELS[key] as string), v as Json]);
  }
  for (const key of BASELINES) {
    const v = at(s, 'baseline-seed', key, scenario);
    if (v) list.push([String(at(s, 'baseline-seed', key, 'label') ?? key), v as Json]);
  }
  return list;
}

/** Writes `<stem>.md`, `<stem>-readme.md` and the SVG plots into `dir`; returns the file names written. */
export async function writeReport(result: Json, dir: string, stem: string): Promise<string[]> {
  const plots: string[] = [];
  const svg = async (name: string, title: string, text: string) => {
    await writeFile(`${dir}/${stem}-${name}.svg`, text);
    plots.push(`[${title}](${stem}-${name}.svg)`);
  };
  const memory: Series[] = [];
  for (const scenario of ['idle-connections', 'idle-cluster']) {
    for (const [name, r] of serversOf(result, scenario)) {
      const steps = r.steps as Json[] | undefined;
      if (!steps) continue;
      memory.push({
        name: scenario === 'idle-cluster' ? `${name}, ${String(r.instances)} inst` : name,
        points: steps.map((p) => [Number(p.connections), Number(p.rssBytesPerConnection)]),
      });
    }
  }
  if (memory.length) {
    await svg(
      'memory-per-connection',
      'memory per connection',
      lineChart('Server RSS per idle connection', 'connections', 'bytes per connection', memory),
    );
  }
  for (const scenario of ['room-broadcast', 'cross-instance']) {
    const list = serversOf(result, scenario);
    if (!list.length) continue;
    await svg(
      `${scenario}-throughput`,
      `${scenario} throughput`,
      lineChart(
        `${scenario}: delivered vs offered`,
        'offered deliveries per second',
        'delivered per second',
        list.map(([name, r]) => ({
          name,
          points: (r.steps as Json[])
            .map((p): [number, number] => [
              Number(p.offeredDeliveriesPerSecond),
              Number(p.deliveredPerSecond),
            ])
            .sort((a, b) => a[0] - b[0]),
        })),
      ),
    );
    await svg(
      `${scenario}-latency-cdf`,
      `${scenario} latency CDF`,
      lineChart(
        `${scenario}: latency CDF at the headline load`,
        'publish → receive, ms (log)',
        'fraction delivered',
        list.map(([name, r]) => {
          const step = (r.steps as Json[]).find((p) => p.publishRate === r.publishRate);
          return { name, points: (step?.cdf as Array<[number, number]>) ?? [] };
        }),
        { logX: true },
      ),
    );
  }
  const storms = serversOf(result, 'recovery-storm').filter(([, r]) => Array.isArray(r.sweep));
  if (storms.length) {
    await svg(
      'recovery-storm-time',
      'recovery storm: time to recover vs publish rate',
      lineChart(
        `recovery storm (kill -9): last client back, ${n(storms[0]?.[1].clients)} clients`,
        'publishes per second to their room',
        'seconds from the kill to the last client recovered',
        storms.map(([name, r]) => ({
          name,
          points: (r.sweep as Json[]).map((p): [number, number] => [
            Number(p.publishRate),
            Number(p.secondsToRecoverAll),
          ]),
        })),
      ),
    );
  }
  const files = plots.map((p) => /\(([^)]+)\)$/.exec(p)?.[1] as string);
  const tables = markdown(result);
  await writeFile(
    `${dir}/${stem}.md`,
    `${tables}\nPlots: ${plots.join(', ')}.\n${files.map((f) => `\n![${f}](${f})\n`).join('')}`,
  );
  const linked = (p: string) => p.replace(/\]\(/, `](${DOCS_RESULTS_PATH}/`);
  await writeFile(
    `${dir}/${stem}-readme.md`,
    `Latest results: a ${result.quick ? 'quick' : 'full'} run ([report](${DOCS_RESULTS_PATH}/${stem}.md), ` +
      `[JSON](${DOCS_RESULTS_PATH}/${stem}.json)). ${tables}\nPlots: ${plots.map(linked).join(', ')}.\n`,
  );
  return [`${stem}.md`, `${stem}-readme.md`, ...files];
}

const n = (v: unknown, digits = 0) =>
  typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';

/** The run's summary: what ran where, the results table and the ratios against the goals. */
export function markdown(result: Json): string {
  const s = result.scenarios as Json;
  const m = result.machine as Json;
  const row = (label: string, key: string) => {
    const pick = (scenario: string) =>
      BASELINES.includes(key) ? at(s, 'baseline-seed', key, scenario) : at(s, scenario, key);
    const idle = pick('idle-connections') as Json | undefined;
    const rb = pick('room-broadcast') as Json | undefined;
    const ci = pick('cross-instance') as Json | undefined;
    const rs = pick('recovery-storm') as Json | undefined;
    const cells = [
      idle ? `${n(idle.rssBytesPerConnection)} / ${n(idle.heapBytesPerConnection)}` : undefined,
      idle ? n(idle.connectsPerSecond) : undefined,
      // Never fell behind: the peak is above the highest rate tried.
      rb
        ? `${rb.saturated === false ? '≥ ' : ''}${n(rb.deliveredPerSecond)} (${n(rb.publishRate)} pub/s)`
        : undefined,
      rb ? `${n(rb.p50Ms, 2)} / ${n(rb.p99Ms, 2)}` : undefined,
      ci ? n(ci.deliveredPerSecond) : undefined,
      ci ? `${n(ci.p50Ms, 2)} / ${n(ci.p99Ms, 2)} / ${n(ci.p999Ms, 2)}` : undefined,
      rs
        ? `${rs.recovered}/${rs.clients} rec, ${rs.lost} lost, ${rs.duplicated} dup, ${n(rs.secondsToRecoverAll, 2)} s`
        : undefined,
    ];
    return `| ${label} | ${cells.map((c) => c ?? '—').join(' | ')} |`;
  };
  const first = (scenario: string, field: string) =>
    at(s, scenario, 'uws', field) ?? at(s, scenario, 'ws', field) ?? at(s, scenario, 'target', field);
  const seedLabel = (key: string) => String(at(s, 'baseline-seed', key, 'label') ?? key);
  const servers: Array<[string, string]> = [
    ['uws', RELAY_LABELS.uws as string],
    ['ws', RELAY_LABELS.ws as string],
    ['target', String(result.compare)],
    ['pubsub-ws', seedLabel('pubsub-ws')],
    ['pubsub-uws', seedLabel('pubsub-uws')],
    ['floor-uws', seedLabel('floor-uws')],
  ];
  const present = servers.filter(
    ([key]) => at(s, 'baseline-seed', key) !== undefined || Object.values(s).some((v) => at(v, key)),
  );
  const load = (v: unknown) => (Array.isArray(v) ? v.join(', ') : '?');
  const lines = [
    `Run ${String(result.date)} (\`${String(result.command)}\`, ${n(result.durationSeconds)} s) on ` +
      `${String(m.cpus)} × ${String(m.cpuModel)}, ${String(m.memoryGiB)} GiB, Node ${String(m.node)}, ` +
      `${String(m.platform)}; servers, Redis and load generators on the same machine over loopback. ` +
      `Load average at the start ${load(m.loadAverageAtStart)}, at the end ${load(result.loadAverageAtEnd)} ` +
      '(above ~0.5 at the start, something else was running and throughput and latency are skewed).',
    '',
    `| server | idle RSS / heap B per conn (${n(first('idle-connections', 'connections'))} conns, 1 instance) ` +
      '| connects/s | room-broadcast delivered/s at saturation ' +
      `(${n(first('room-broadcast', 'subscribers'))} subs) | room-broadcast p50 / p99 ms at saturation ` +
      `| cross-instance delivered/s (${n(first('cross-instance', 'instances'))} inst, ` +
      `${n(first('cross-instance', 'subscribers'))} subs, ${n(first('cross-instance', 'publishRate'))} pub/s) ` +
      '| cross-instance p50 / p99 / p999 ms | recovery storm (kill -9, then drain) |',
    '|---|---|---|---|---|---|---|---|',
    ...present.map(([key, label]) => row(label, key)),
    '',
  ];
  const cluster = ['uws', 'ws'].filter((k) => at(s, 'idle-cluster', k));
  if (cluster.length) {
    lines.push(
      '| scale-out, idle | instances | connections | RSS / heap B per conn (all instances) | connects/s |',
      '|---|---|---|---|---|',
      ...cluster.map((k) => {
        const r = at(s, 'idle-cluster', k) as Json;
        return `| ${RELAY_LABELS[k]} | ${n(r.instances)} | ${n(r.connections)} | ${n(r.rssBytesPerConnection)} / ${n(r.heapBytesPerConnection)} | ${n(r.connectsPerSecond)} |`;
      }),
      '',
    );
  }
  lines.push(...memoryBreakdownTable(s));
  const sweeps = ['uws', 'ws'].filter((k) => Array.isArray(at(s, 'recovery-storm', k, 'sweep')));
  if (sweeps.length) {
    const phase = (p: Json) => {
      const ms = p.reconnectMs as Json;
      return (
        `${n(p.recovered)} rec, ${n(p.notRecovered)} not, ${n(p.stillDisconnected)} out; ${n(p.secondsToRecoverAll, 2)} s ` +
        `(client p50/p99 ${n(ms.p50)}/${n(ms.p99)} ms); ${n(p.replayedPerSecond)} replayed/s; ` +
        `CPU relay ${n(p.relayCpuPercent)} %, load gen ${n(p.loadGeneratorCpuPercent)} %`
      );
    };
    lines.push(
      '| recovery storm | clients | publishes/s | lost / duplicated / out of order (connected clients) | kill -9 → all back | drain → all back |',
      '|---|---|---|---|---|---|',
      ...sweeps.flatMap((k) =>
        (at(s, 'recovery-storm', k, 'sweep') as Json[]).map(
          (r) =>
            `| ${RELAY_LABELS[k]} | ${n(r.clients)} | ${n(r.publishRate)} | ${n(r.lost)} / ${n(r.duplicated)} / ${n(r.outOfOrder)} ` +
            `| ${phase(r.kill as Json)} | ${phase(r.drain as Json)} |`,
        ),
      ),
      '',
    );
  }
  const replays = ['uws', 'ws'].filter((k) => at(s, 'replay-capacity', k));
  if (replays.length) {
    lines.push(
      '| replay capacity (all clients back at once) | clients × missed | restored | restores/s | replayed packets/s | relay CPU % | load generators CPU % | lost / duplicated |',
      '|---|---|---|---|---|---|---|---|',
      ...replays.map((k) => {
        const r = at(s, 'replay-capacity', k) as Json;
        return `| ${RELAY_LABELS[k]} | ${n(r.clients)} × ${n(r.missed)} | ${n(r.recovered)} in ${n(r.seconds, 2)} s | ${n(r.restoresPerSecond)} | ${n(r.replayedPerSecond)} | ${n(r.relayCpuPercent)} | ${n(r.loadGeneratorCpuPercent)} | ${n(r.lost)} / ${n(r.duplicated)} |`;
      }),
      '',
    );
  }
  const ratios = result.ratios as Json | undefined;
  if (ratios) {
    const goalKeys = new Set(GOALS.map((g) => g.key));
    const fmt = (v: unknown) => (v === null || v === undefined ? '—' : String(v));
    lines.push(
      '| ratio or figure (same run) | value | goal |',
      '|---|---|---|',
      ...GOALS.map((g) => {
        const met = ratios[`goal:${g.key}`];
        return `| ${g.label} | ${fmt(ratios[g.key])} | ${g.goal}${met === false ? ' (missed)' : met ? ' (met)' : ''} |`;
      }),
      ...['Uws', 'Ws'].map((t) => {
        const met = ratios[`goal:recoveryStorm${t}`];
        return `| recovery storm at the headline rate, ${t.toLowerCase()}: all recovered, 0 lost, 0 duplicated, back within 5 s | ${fmt(met)} | true${met === false ? ' (missed)' : met ? ' (met)' : ''} |`;
      }),
      ...Object.entries(ratios)
        .filter(([k]) => !goalKeys.has(k) && !k.startsWith('goal:'))
        .map(([k, v]) => `| ${k} | ${fmt(v)} | |`),
      '',
    );
  }
  return lines.join('\n');
}

/** Heap per idle connection by kind of object, one column per transport (the `memory-breakdown` scenario). */
function memoryBreakdownTable(s: Json): string[] {
  const keys = ['uws', 'ws'].filter((k) => at(s, 'memory-breakdown', k));
  if (keys.length === 0) return [];
  type Kind = { kind: string; bytes: number; objects: number };
  const kindsOf = (k: string) => at(s, 'memory-breakdown', k, 'kinds') as Kind[];
  const cell = (k: string, kind: string) => {
    const found = kindsOf(k).find((x) => x.kind === kind);
    return found ? `${n(found.bytes)} (${found.objects})` : '—';
  };
  // Every kind listed for either transport, largest first; `(other)` last.
  const largest = new Map<string, number>();
  for (const k of keys) {
    for (const { kind, bytes } of kindsOf(k)) {
      if (kind !== '(other)') largest.set(kind, Math.max(largest.get(kind) ?? 0, bytes));
    }
  }
  const kinds = [...largest].sort((a, b) => b[1] - a[1]).map(([kind]) => kind);
  const first = at(s, 'memory-breakdown', keys[0] as string) as Json;
  const code = (kind: string) => `\`${kind.replaceAll('|', '\\|')}\``;
  return [
    `| memory breakdown: heap B (objects) per idle connection, heap snapshots at ${n(first.from)} and ${n(first.to)} connections (—: among its other kinds) | ${keys.map((k) => RELAY_LABELS[k]).join(' | ')} |`,
    `|---|${keys.map(() => '---').join('|')}|`,
    ...kinds.map((kind) => `| ${code(kind)} | ${keys.map((k) => cell(k, kind)).join(' | ')} |`),
    `| (other kinds) | ${keys.map((k) => cell(k, '(other)')).join(' | ')} |`,
    `| heap used after GC, per connection | ${keys.map((k) => n(at(s, 'memory-breakdown', k, 'heapBytesPerConnection'))).join(' | ')} |`,
    '',
  ];
}
