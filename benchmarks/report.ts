// Markdown report and hand-written SVG plots for a full run (no plotting dependency).
import { writeFile } from 'node:fs/promises';

type Json = Record<string, unknown>;
type Series = { name: string; points: Array<[number, number]> };

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** A line chart; log scale on x when asked. Returns the SVG text. */
export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  opts: { logX?: boolean } = {},
): string {
  const w = 640;
  const h = 400;
  const m = { l: 70, r: 150, t: 40, b: 50 };
  const all = series.flatMap((s) => s.points);
  const fx = (x: number) => (opts.logX ? Math.log10(Math.max(x, 1e-3)) : x);
  const xs = all.map(([x]) => fx(x));
  const ys = all.map(([, y]) => y);
  const x0 = Math.min(...xs, opts.logX ? Number.POSITIVE_INFINITY : 0);
  const x1 = Math.max(...xs);
  const y1 = Math.max(...ys) * 1.05 || 1;
  const px = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const py = (y: number) => h - m.b - (y / y1) * (h - m.t - m.b);
  const ticks = (lo: number, hi: number, n: number) =>
    Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : `${+v.toPrecision(3)}`);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2 - m.r / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${h - m.b}" x2="${w - m.r}" y2="${h - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${h - m.b}" stroke="black"/>`,
    `<text x="${(m.l + w - m.r) / 2}" y="${h - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const v of ticks(0, y1, 5)) {
    parts.push(
      `<line x1="${m.l}" y1="${py(v)}" x2="${w - m.r}" y2="${py(v)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  for (const t of ticks(x0, x1, 5)) {
    const v = opts.logX ? 10 ** t : t;
    const x = m.l + ((t - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
    parts.push(`<text x="${x}" y="${h - m.b + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points
      .map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (s.points.length < 20) {
      for (const [x, y] of s.points) {
        parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
      }
    }
    const ly = m.t + 10 + i * 18;
    parts.push(
      `<line x1="${w - m.r + 10}" y1="${ly}" x2="${w - m.r + 30}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${w - m.r + 35}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);

/** Writes `<stem>.md` and the SVG plots into `dir`; returns the file names written. */
export async function writeReport(result: Json, dir: string, stem: string): Promise<string[]> {
  const s = result.scenarios as Json;
  const files: string[] = [];
  const svg = async (name: string, text: string) => {
    await writeFile(`${dir}/${stem}-${name}.svg`, text);
    files.push(`${stem}-${name}.svg`);
  };
  const targets = (scenario: string): Array<[string, Json]> => {
    const list: Array<[string, Json]> = [];
    for (const k of ['uws', 'ws']) {
      const v = at(s, scenario, k);
      if (v) list.push([k, v as Json]);
    }
    const seed = at(s, 'baseline-seed', 'pubsub-ws', scenario);
    if (seed) list.push(['pubsub-ws (seed)', seed as Json]);
    const seedUws = at(s, 'baseline-seed', 'pubsub-uws', scenario);
    if (seedUws) list.push(['pubsub-uws', seedUws as Json]);
    return list;
  };
  const idle = targets('idle-connections');
  if (idle.length) {
    await svg(
      'memory-per-connection',
      lineChart(
        'Server RSS per idle connection',
        'connections',
        'bytes per connection',
        idle.map(([name, r]) => ({
          name,
          points: (r.steps as Json[]).map((p) => [Number(p.connections), Number(p.rssBytesPerConnection)]),
        })),
      ),
    );
  }
  for (const scenario of ['room-broadcast', 'cross-instance']) {
    const list = targets(scenario);
    if (!list.length) continue;
    await svg(
      `${scenario}-throughput`,
      lineChart(
        `${scenario}: delivered vs offered`,
        'offered deliveries per second',
        'delivered per second',
        list.map(([name, r]) => ({
          name,
          points: (r.steps as Json[]).map((p) => [
            Number(p.offeredDeliveriesPerSecond),
            Number(p.deliveredPerSecond),
          ]),
        })),
      ),
    );
    await svg(
      `${scenario}-latency-cdf`,
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
  const md = markdown(result);
  await writeFile(`${dir}/${stem}.md`, md + files.map((f) => `\n![${f}](${f})\n`).join(''));
  files.unshift(`${stem}.md`);
  return files;
}

/** The summary table (also what the README's Performance section shows). */
export function markdown(result: Json): string {
  const s = result.scenarios as Json;
  const m = result.machine as Json;
  const n = (v: unknown, digits = 0) =>
    typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';
  const row = (label: string, key: string, f: (r: Json) => unknown[]) => {
    const pick = (scenario: string) => {
      if (key === 'seed') return at(s, 'baseline-seed', 'pubsub-ws', scenario);
      if (key === 'pubsub-uws') return at(s, 'baseline-seed', 'pubsub-uws', scenario);
      return at(s, scenario, key);
    };
    const cells = f({
      idle: pick('idle-connections'),
      rb: pick('room-broadcast'),
      ci: pick('cross-instance'),
      rs: key === 'seed' || key === 'pubsub-uws' ? undefined : at(s, 'recovery-storm', key),
    } as Json);
    return `| ${label} | ${cells.map((c) => (c === undefined ? '—' : String(c))).join(' | ')} |`;
  };
  const cells = (r: Json) => {
    const idle = r.idle as Json | undefined;
    const rb = r.rb as Json | undefined;
    const ci = r.ci as Json | undefined;
    const rs = r.rs as Json | undefined;
    return [
      idle ? `${n(idle.rssBytesPerConnection)} / ${n(idle.heapBytesPerConnection)}` : undefined,
      idle ? n(idle.connectsPerSecond) : undefined,
      rb ? n(rb.deliveredPerSecond) : undefined,
      rb ? `${n(rb.p50Ms, 2)} / ${n(rb.p99Ms, 2)}` : undefined,
      ci ? n(ci.deliveredPerSecond) : undefined,
      ci ? `${n(ci.p50Ms, 2)} / ${n(ci.p99Ms, 2)} / ${n(ci.p999Ms, 2)}` : undefined,
      rs
        ? `${rs.recovered}/${rs.clients} rec, ${rs.lost} lost, ${rs.duplicated} dup, ${n(rs.secondsToRecoverAll, 2)} s`
        : undefined,
    ];
  };
  const idleN = at(s, 'idle-connections', 'uws', 'connections');
  const rbN = at(s, 'room-broadcast', 'uws', 'subscribers');
  const ciU = at(s, 'cross-instance', 'uws') as Json | undefined;
  const lines = [
    `Run ${String(result.date)} (${result.quick ? 'quick run' : 'full run'}, \`${String(result.command)}\`), ` +
      `${String(m.cpus)} × ${String(m.cpuModel)}, ${String(m.memoryGiB)} GiB, Node ${String(m.node)}, ` +
      `servers and load generators on the same machine over loopback.`,
    '',
    `| server | idle RSS / heap B per conn (${n(idleN)} conns) | connects/s | room-broadcast delivered/s (${n(rbN)} subs, at saturation) | room-broadcast p50 / p99 ms | cross-instance delivered/s (3 inst, ${n(ciU?.subscribers)} subs, ${n(ciU?.publishRate)} pub/s) | cross-instance p50 / p99 / p999 ms | recovery storm (kill -9) |`,
    '|---|---|---|---|---|---|---|---|',
    row('relay, uws (Streams)', 'uws', cells),
    row('relay, ws (Streams)', 'ws', cells),
    row('seed: Socket.IO + ws + classic Pub/Sub', 'seed', cells),
    row('Socket.IO + uws + classic Pub/Sub', 'pubsub-uws', cells),
    '',
    '| ratio | value |',
    '|---|---|',
    ...Object.entries(result.ratios as Json).map(([k, v]) => `| ${k} | ${v === null ? '—' : String(v)} |`),
    '',
  ];
  return lines.join('\n');
}
