import type { RunResults } from '../results/schema.ts';
import { causeOf, failureGroups, skipGroups } from './groups.ts';
import { migrationGrids, squareLabel } from './migration-grid.ts';
import { groupRemedyLine } from './remedy-line.ts';
import { listNames, notRunLabel, pivot, poolLabels, scalePoints, totalOf, type MatrixCell } from './model.ts';
import { failingReasons, pilotBoard, verdictCounts } from './pilot-board.ts';

function summarizeCell(m: MatrixCell): string {
  if (!m.status) return '-';
  const parts = [`${m.counts.PASS}/${totalOf(m)} pass`];
  if (m.counts.FAIL) parts.push(`${m.counts.FAIL} fail`);
  if (m.counts.ERROR) parts.push(`${m.counts.ERROR} error`);
  if (m.counts.SKIP) parts.push(`${m.counts.SKIP} skip`);
  return `${m.status.padEnd(5)} ${parts.join(', ')}`;
}

/** The final text a person reads in a terminal: the matrix, then every non-PASS cell with its cause. */
export function renderText(results: RunResults, opts: { showSkips?: boolean } = {}): string {
  const m = pivot(results);
  const header = ['pool', 'kernel', 'backend', 'criu', ...m.suites];
  const rows = results.pools.map((p) => {
    const l = poolLabels(p);
    return [l.name, l.kernel, l.backend, l.criu, ...m.suites.map((s) => (p.error ? 'ERROR pool not provisioned' : summarizeCell(m.get(p.name, s))))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt), ''];

  for (const p of results.pools.filter((p) => p.error)) out.push(`ERROR  ${p.name}: ${p.error}`);
  for (const g of failureGroups(results, opts.showSkips ? ['FAIL', 'ERROR', 'SKIP'] : ['FAIL', 'ERROR'])) {
    const c = g.first;
    out.push(`${c.status.padEnd(5)}  ${c.pool} › ${c.suite} › ${listNames(g.checks)}`);
    out.push(`       ${c.reason}`);
    const d = causeOf(c);
    if (d) {
      out.push(`       cause: ${d.cause}`);
      out.push(`       fix:   ${d.remediation}`);
    }
    const remedy = groupRemedyLine(g.cells);
    if (remedy) out.push(`       remedy: ${remedy}`);
  }
  if (!opts.showSkips) {
    for (const g of skipGroups(results)) out.push(g.suite ? `SKIP   ${g.pool} › ${g.suite} › ${listNames(g.checks)}: ${g.missing}` : `SKIP   ${g.pool}: ${g.missing}`);
  }
  const board = renderPilotBoard(results);
  if (board.length) out.push('', ...board);
  const grids = renderGrids(results);
  if (grids.length) out.push('', ...grids);
  const s = results.summary;
  const scale = renderScale(results);
  if (scale.length) out.push('', ...scale);
  if (results.interrupted) out.push('', 'INTERRUPTED: the run was stopped; checks that had not finished have no verdict (not run).');
  out.push('', `${s.PASS} passed, ${s.FAIL} failed, ${s.ERROR} errors, ${s.SKIP} skipped${notRunLabel(results, ', ')}`);
  return out.join('\n');
}

/** Each migration grid: rows are sources, columns destinations, the diagonal (the round trip) in brackets. */
export function renderGrids(results: RunResults): string[] {
  const out: string[] = [];
  for (const g of migrationGrids(results)) {
    const header = [`migration ${g.title}: source ↓ destination →`, ...g.destinations];
    const rows = g.sources.map((s) => [s, ...g.destinations.map((d) => squareLabel(g.square(s, d)))]);
    const widths = header.map((h, i) => Math.max(i === 0 ? h.length : h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    out.push(fmt(header), ...rows.map(fmt), '');
  }
  return out;
}

/** The big-mem scale curve per pool: image size and dump time at each size. */
export function renderScale(results: RunResults): string[] {
  const out: string[] = [];
  for (const p of results.pools) {
    const cells = scalePoints(results, p.name)
      .map((x) => x.cell)
      .filter((c) => c.metrics.imageBytes && c.durations.dumpMs)
      .sort((a, b) => a.metrics.imageBytes! - b.metrics.imageBytes!);
    if (!cells.length) continue;
    const points = cells.map((c) => `${c.check.slice('big-mem/'.length)}: dump ${Math.round(c.durations.dumpMs!)} ms, image ${(c.metrics.imageBytes! / 2 ** 20).toFixed(0)} MiB`);
    const perGiB = cells.at(-1)!.metrics.dumpMsPerGiB;
    out.push(`scale  ${p.name}: ${points.join('; ')}${perGiB ? ` → ${(perGiB / 1000).toFixed(2)} s per GiB` : ''}`);
  }
  return out;
}

/**
 * The pilots' verdict board: pools (rows) × pilots (columns), then each
 * verdict that is not GO with its conditions, why, the criteria it missed
 * (measured vs limit) and the playbook's response.
 */
export function renderPilotBoard(results: RunResults): string[] {
  const b = pilotBoard(results);
  if (!b) return [];
  const header = ['pilot verdicts: pool ↓ pilot →', ...b.pilots];
  const rows = b.pools.map((pool) => [pool, ...b.pilots.map((pilot) => b.square(pool, pilot)?.verdict ?? '–')]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [fmt(header), ...rows.map(fmt), ''];
  for (const pool of b.pools)
    for (const pilot of b.pilots) {
      const v = b.square(pool, pilot);
      if (!v || v.verdict === 'GO') continue;
      out.push(`${v.verdict.padEnd(11)}  ${pool} › ${pilot}${v.conditions.length ? `: ${v.conditions.join('; ')}` : ''}`);
      out.push(`             why: ${v.why}`);
      for (const r of failingReasons(v).slice(0, 4)) out.push(`             ${r}`);
      if (v.response) out.push(`             response: ${v.response}`);
    }
  const n = verdictCounts(results.pilots ?? []);
  out.push(`pilots: ${n.GO} GO, ${n.CONDITIONAL} CONDITIONAL, ${n['NO-GO']} NO-GO, ${n.UNDECIDED} UNDECIDED`);
  return out;
}
