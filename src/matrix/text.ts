import type { Cell, RunResults, Status } from '../results/schema.ts';
import { featureOf } from '../results/cell-fields.ts';
import { SUITES } from '../config/schema.ts';

const RANK: Record<Status, number> = { ERROR: 3, FAIL: 2, PASS: 1, SKIP: 0 };

/** The worst of some statuses (ERROR > FAIL > PASS > SKIP), null for none. */
export function worstStatus(statuses: Iterable<Status>): Status | null {
  let w: Status | null = null;
  for (const s of statuses) if (w === null || RANK[s] > RANK[w]) w = s;
  return w;
}

export interface FailureGroup {
  pool: string;
  suite: string;
  status: Status;
  checks: string[];
  first: Cell;
}

/** Cells of these statuses grouped by pool, suite and cause, so one broken CRIU is told once, not fifty times. */
export function failureGroups(results: RunResults, statuses: readonly Status[] = ['FAIL', 'ERROR']): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const c of results.cells) {
    if (!statuses.includes(c.status)) continue;
    const key = `${c.pool}\0${c.suite}\0${c.status}\0${c.diagnoses.find((d) => d.blame !== 'note')?.id ?? c.reason}`;
    const g = groups.get(key);
    if (g) g.checks.push(c.check);
    else groups.set(key, { pool: c.pool, suite: c.suite, status: c.status, checks: [c.check], first: c });
  }
  return [...groups.values()];
}

export interface SkipGroup {
  pool: string;
  /** Absent for a pool's feature probes, whose names are the missing capabilities. */
  suite?: string;
  checks: string[];
  /** What the checks lack, from their reason ("missing …"). */
  missing: string;
}

/**
 * SKIPs summed up: per pool, the features its probes found missing; then
 * every other skipped check grouped by the capability its reason names (a
 * check's own name is not a capability). A pool's "check --all" is left out
 * when its feature probes already name what is missing one by one.
 */
export function skipGroups(results: RunResults): SkipGroup[] {
  const features = new Map<string, string[]>();
  const byReason = new Map<string, SkipGroup>();
  for (const c of results.cells) {
    if (c.status !== 'SKIP') continue;
    const feature = featureOf(c);
    if (feature !== undefined) {
      features.set(c.pool, [...(features.get(c.pool) ?? []), feature]);
      continue;
    }
    const key = `${c.pool}\0${c.suite}\0${c.reason}`;
    const g = byReason.get(key) ?? { pool: c.pool, suite: c.suite, checks: [], missing: c.reason.replace(/^capability missing: /, 'missing ') };
    g.checks.push(c.check);
    byReason.set(key, g);
  }
  const rest = [...byReason.values()].filter((g) => !(g.checks.length === 1 && g.checks[0] === 'check --all' && features.has(g.pool)));
  return [...[...features].map(([pool, checks]) => ({ pool, checks, missing: `missing ${checks.join(', ')}` })), ...rest];
}

/** "a, b, c and 7 more" beyond four names. */
export function listNames(names: readonly string[]): string {
  return names.length > 4 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

export interface MatrixCell {
  status: Status | null;
  counts: Record<Status, number>;
}

/** Pools × suites: the worst status of the suite's cells in that pool, with counts. */
export function pivot(results: RunResults): { pools: string[]; suites: string[]; get: (pool: string, suite: string) => MatrixCell } {
  const pools = results.pools.map((p) => p.name);
  // Suites in their canonical order (the order cells finished in says nothing), then any other (e.g. "harness").
  const seen = new Set(results.cells.map((c) => c.suite));
  const suites = [...SUITES.filter((x) => seen.has(x)), ...[...seen].filter((x) => !(SUITES as readonly string[]).includes(x))];
  const index = new Map<string, Cell[]>();
  for (const c of results.cells) {
    const k = `${c.pool}\0${c.suite}`;
    index.set(k, [...(index.get(k) ?? []), c]);
  }
  return {
    pools,
    suites,
    get: (pool, suite) => {
      const cells = index.get(`${pool}\0${suite}`) ?? [];
      const counts = { PASS: 0, FAIL: 0, ERROR: 0, SKIP: 0 };
      for (const c of cells) counts[c.status]++;
      return { status: worstStatus(cells.map((c) => c.status)), counts };
    },
  };
}

function summarizeCell(m: MatrixCell): string {
  if (!m.status) return '-';
  const total = m.counts.PASS + m.counts.FAIL + m.counts.ERROR + m.counts.SKIP;
  const parts = [`${m.counts.PASS}/${total} pass`];
  if (m.counts.FAIL) parts.push(`${m.counts.FAIL} fail`);
  if (m.counts.ERROR) parts.push(`${m.counts.ERROR} error`);
  if (m.counts.SKIP) parts.push(`${m.counts.SKIP} skip`);
  return `${m.status.padEnd(5)} ${parts.join(', ')}`;
}

/** The final text a person reads in a terminal: the matrix, then every non-PASS cell with its cause. */
export function renderText(results: RunResults, opts: { showSkips?: boolean } = {}): string {
  const m = pivot(results);
  const header = ['pool', 'kernel', 'backend', 'criu', ...m.suites];
  const rows = results.pools.map((p) => [
    p.name,
    p.inventory?.kernelRelease ?? p.kernel,
    p.inventory?.vm ? `${p.backend} (${p.inventory.vm.accelerator})` : p.backend,
    p.inventory?.criuVersion ?? '?',
    ...m.suites.map((s) => (p.error ? 'ERROR pool not provisioned' : summarizeCell(m.get(p.name, s)))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt), ''];

  for (const p of results.pools.filter((p) => p.error)) out.push(`ERROR  ${p.name}: ${p.error}`);
  for (const g of failureGroups(results, opts.showSkips ? ['FAIL', 'ERROR', 'SKIP'] : ['FAIL', 'ERROR'])) {
    const c = g.first;
    out.push(`${c.status.padEnd(5)}  ${c.pool} › ${c.suite} › ${listNames(g.checks)}`);
    out.push(`       ${c.reason}`);
    const d = c.diagnoses.find((x) => x.blame !== 'note');
    if (d) {
      out.push(`       cause: ${d.cause}`);
      out.push(`       fix:   ${d.remediation}`);
    }
  }
  if (!opts.showSkips) {
    for (const g of skipGroups(results)) out.push(g.suite ? `SKIP   ${g.pool} › ${g.suite} › ${listNames(g.checks)}: ${g.missing}` : `SKIP   ${g.pool}: ${g.missing}`);
  }
  const s = results.summary;
  const scale = renderScale(results);
  if (scale.length) out.push('', ...scale);
  if (results.interrupted) out.push('', 'INTERRUPTED: the run was stopped; checks that had not finished have no verdict (not run).');
  out.push('', `${s.PASS} passed, ${s.FAIL} failed, ${s.ERROR} errors, ${s.SKIP} skipped${notRunLabel(results, ', ')}`);
  return out.join('\n');
}

/** ", 3 not run (interrupted)" when cells did not run; "" otherwise (also for results written before notRun existed). */
export function notRunLabel(results: RunResults, sep: string): string {
  const n = results.summary.notRun ?? results.notRun?.length ?? 0;
  return n ? `${sep}${n} not run (interrupted)` : '';
}

/** The big-mem scale curve per pool: image size and dump time at each size. */
export function renderScale(results: RunResults): string[] {
  const out: string[] = [];
  for (const p of results.pools) {
    const cells = results.cells
      .filter((c) => c.pool === p.name && c.check.startsWith('big-mem/') && c.status === 'PASS' && c.metrics.imageBytes && c.durations.dumpMs)
      .sort((a, b) => a.metrics.imageBytes! - b.metrics.imageBytes!);
    if (!cells.length) continue;
    const points = cells.map((c) => `${c.check.slice('big-mem/'.length)}: dump ${Math.round(c.durations.dumpMs!)} ms, image ${(c.metrics.imageBytes! / 2 ** 20).toFixed(0)} MiB`);
    const perGiB = cells.at(-1)!.metrics.dumpMsPerGiB;
    out.push(`scale  ${p.name}: ${points.join('; ')}${perGiB ? ` → ${(perGiB / 1000).toFixed(2)} s per GiB` : ''}`);
  }
  return out;
}

/** "runc 1.1.15, crun 1.21 (+CRIU), podman 5.4.2 → runc"; "–" for a node without runtimes. */
export function runtimesLabel(p: RunResults['pools'][number]): string {
  const rts = (p.inventory?.runtimes ?? []).filter((r) => r.version !== null);
  if (!rts.length) return '–';
  return rts.map((r) => `${r.name} ${r.version!.replace(/\+ds\d+$/, '')}${r.name === 'crun' ? (r.checkpoint ? ' (+CRIU)' : ' (no CRIU)') : ''}${r.ociRuntime ? ` → ${r.ociRuntime}` : ''}`).join(', ');
}
