// A hand-written SVG line chart for the benchmark report (no plotting dependency).

export type Series = { name: string; points: Array<[number, number]> };

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
