import type { Cell, RunResults, Status } from '../results/schema.ts';
import { featureOf } from './model.ts';

/** The diagnosis that explains a cell (notes explain nothing), if any. */
export function causeOf(c: Cell): Cell['diagnoses'][number] | undefined {
  return c.diagnoses.find((d) => d.blame !== 'note');
}

export interface FailureGroup {
  pool: string;
  suite: string;
  status: Status;
  checks: string[];
  /** The group's cells, in run order; checks[i] is cells[i].check. */
  cells: Cell[];
  first: Cell;
}

/** Cells of these statuses grouped by pool, suite and cause, so one broken CRIU is told once, not fifty times. */
export function failureGroups(results: RunResults, statuses: readonly Status[] = ['FAIL', 'ERROR']): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const c of results.cells) {
    if (!statuses.includes(c.status)) continue;
    const key = `${c.pool}\0${c.suite}\0${c.status}\0${causeOf(c)?.id ?? c.reason}`;
    const g = groups.get(key);
    if (g) {
      g.checks.push(c.check);
      g.cells.push(c);
    } else groups.set(key, { pool: c.pool, suite: c.suite, status: c.status, checks: [c.check], cells: [c], first: c });
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
    if (feature !== null) {
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
