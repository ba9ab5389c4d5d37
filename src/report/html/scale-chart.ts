import Handlebars from 'handlebars';
import { scalePoints } from '../../matrix/model.ts';
import type { RunResults } from '../../results/schema.ts';

const W = 640;
const H = 300;
const LEFT = 60;
const BOTTOM = 40;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

/** Line chart of dump time against big-mem size, one line per pool (inline SVG); null when no pool has a point. */
export function scaleChart(results: RunResults): string | null {
  const series = results.pools.map((p) => ({ pool: p.name, points: scalePoints(results, p.name).map((x) => ({ mib: x.mib, ms: x.dumpMs })) })).filter((s) => s.points.length);
  if (!series.length) return null;
  const maxX = Math.max(...series.flatMap((s) => s.points.map((p) => p.mib)));
  const maxY = Math.max(...series.flatMap((s) => s.points.map((p) => p.ms)));
  const x = (v: number) => LEFT + (v / maxX) * (W - LEFT - 50);
  const y = (v: number) => H - BOTTOM - (v / maxY) * (H - BOTTOM - 20);
  const esc = Handlebars.escapeExpression;
  const parts = [`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="dump time by big-mem size">`];
  parts.push(`<line x1="${LEFT}" y1="${H - BOTTOM}" x2="${W - 10}" y2="${H - BOTTOM}" class="axis"/><line x1="${LEFT}" y1="10" x2="${LEFT}" y2="${H - BOTTOM}" class="axis"/>`);
  for (let i = 0; i <= 4; i++) {
    const vy = (maxY * i) / 4;
    parts.push(`<text x="${LEFT - 6}" y="${y(vy) + 4}" text-anchor="end">${(vy / 1000).toFixed(1)} s</text>`);
  }
  for (const mib of [...new Set(series.flatMap((s) => s.points.map((p) => p.mib)))]) parts.push(`<text x="${x(mib)}" y="${H - BOTTOM + 16}" text-anchor="middle">${mib} MiB</text>`);
  parts.push(`<text x="${(W + LEFT) / 2}" y="${H - 4}" text-anchor="middle">big-mem size → criu dump wall time</text>`);
  series.forEach((s, i) => {
    const col = COLORS[i % COLORS.length];
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${s.points.map((p) => `${x(p.mib).toFixed(1)},${y(p.ms).toFixed(1)}`).join(' ')}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${x(p.mib).toFixed(1)}" cy="${y(p.ms).toFixed(1)}" r="3.5" fill="${col}"><title>${esc(s.pool)}: ${p.mib} MiB in ${p.ms.toFixed(0)} ms</title></circle>`);
    parts.push(`<rect x="${W - 190}" y="${14 + i * 16}" width="10" height="10" fill="${col}"/><text x="${W - 175}" y="${23 + i * 16}">${esc(s.pool)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
