import type { Cell, PoolResult, RunResults, Status } from '../results/schema.ts';
import { SUITES } from '../config/schema.ts';

/**
 * The matrix every renderer shows (text, Markdown, HTML, the gate's
 * summaries): statuses ranked, pools × suites, each pool's row labels and
 * the capabilities the feature probes found. Grouping of failures and skips
 * is in groups.ts.
 */

const RANK: Record<Status, number> = { ERROR: 3, FAIL: 2, PASS: 1, SKIP: 0 };

/** The worst of some statuses (ERROR > FAIL > PASS > SKIP), null for none. */
export function worstStatus(statuses: Iterable<Status>): Status | null {
  let w: Status | null = null;
  for (const s of statuses) if (w === null || RANK[s] > RANK[w]) w = s;
  return w;
}

const FEATURE_SUITE = 'criu-check';
const FEATURE_PREFIX = 'feature:';

/** The CRIU feature a cell probes ("criu check --feature NAME"), null for any other cell. The one place that knows how a probe is named. */
export function featureOf(cell: Pick<Cell, 'suite' | 'check'>): string | null {
  return cell.suite === FEATURE_SUITE && cell.check.startsWith(FEATURE_PREFIX) ? cell.check.slice(FEATURE_PREFIX.length) : null;
}

/** The suite and check of the cell that probes FEATURE (featureOf's inverse). */
export function featureCell(feature: string): { suite: string; check: string } {
  return { suite: FEATURE_SUITE, check: `${FEATURE_PREFIX}${feature}` };
}

/** A pool's feature-probe cells, in run order. */
export function featureCells(results: RunResults, pool: string): Cell[] {
  return results.cells.filter((c) => c.pool === pool && featureOf(c) !== null);
}

/** Every capability any pool reports, sorted, with each pool's value: yes, no, or unknown (not probed or the probe broke). */
export function capabilityRows(results: RunResults): { name: string; values: ('yes' | 'no' | 'unknown')[] }[] {
  const features = [...new Set(results.pools.flatMap((p) => Object.keys(p.capabilities)))].sort();
  return features.map((f) => ({ name: f, values: results.pools.map((p) => (p.capabilities[f] === undefined ? 'unknown' : p.capabilities[f] ? 'yes' : 'no')) }));
}

/** "a, b, c and 7 more" beyond four names. */
export function listNames(names: readonly string[]): string {
  return names.length > 4 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

/** Suites in their canonical order (the order cells finished in says nothing), then any other (e.g. "harness"). */
export function suitesOf(results: RunResults): string[] {
  const seen = new Set(results.cells.map((c) => c.suite));
  return [...SUITES.filter((x) => seen.has(x)), ...[...seen].filter((x) => !(SUITES as readonly string[]).includes(x))];
}

export interface MatrixCell {
  status: Status | null;
  counts: Record<Status, number>;
}

/** Pools × suites: the worst status of the suite's cells in that pool, with counts. */
export function pivot(results: RunResults): { pools: string[]; suites: string[]; get: (pool: string, suite: string) => MatrixCell } {
  const index = new Map<string, Cell[]>();
  for (const c of results.cells) {
    const k = `${c.pool}\0${c.suite}`;
    index.set(k, [...(index.get(k) ?? []), c]);
  }
  return {
    pools: results.pools.map((p) => p.name),
    suites: suitesOf(results),
    get: (pool, suite) => {
      const cells = index.get(`${pool}\0${suite}`) ?? [];
      const counts = { PASS: 0, FAIL: 0, ERROR: 0, SKIP: 0 };
      for (const c of cells) counts[c.status]++;
      return { status: worstStatus(cells.map((c) => c.status)), counts };
    },
  };
}

/** A matrix cell's cell count. */
export function totalOf(m: MatrixCell): number {
  return m.counts.PASS + m.counts.FAIL + m.counts.ERROR + m.counts.SKIP;
}

/** What every renderer's matrix row says of a pool besides its cells. */
export interface PoolLabels {
  name: string;
  /** The release the node ran, else the configured kernel. */
  kernel: string;
  /** "qemu (tcg)" for a VM: the accelerator it got. */
  backend: string;
  criu: string;
  runtimes: string;
}

export function poolLabels(p: PoolResult): PoolLabels {
  return {
    name: p.name,
    kernel: p.inventory?.kernelRelease ?? p.kernel,
    backend: p.inventory?.vm ? `${p.backend} (${p.inventory.vm.accelerator})` : p.backend,
    criu: p.inventory?.criuVersion ?? '?',
    runtimes: runtimesLabel(p),
  };
}

/** "runc 1.1.15, crun 1.21 (+CRIU), podman 5.4.2 → runc"; "–" for a node without runtimes. */
export function runtimesLabel(p: PoolResult): string {
  const rts = (p.inventory?.runtimes ?? []).filter((r) => r.version !== null);
  if (!rts.length) return '–';
  return rts.map((r) => `${r.name} ${r.version!.replace(/\+ds\d+$/, '')}${r.name === 'crun' ? (r.checkpoint ? ' (+CRIU)' : ' (no CRIU)') : ''}${r.ociRuntime ? ` → ${r.ociRuntime}` : ''}`).join(', ');
}

/** ", 3 not run (interrupted)" when cells did not run; "" otherwise (also for results written before notRun existed). */
export function notRunLabel(results: RunResults, sep: string): string {
  const n = results.summary.notRun ?? results.notRun?.length ?? 0;
  return n ? `${sep}${n} not run (interrupted)` : '';
}

/** The run's verdict from its exit code. */
export function runVerdict(results: RunResults): Status {
  return results.exitCode === 0 ? 'PASS' : results.exitCode === 1 ? 'FAIL' : 'ERROR';
}

/** A pool's passing big-mem cells with a dump time, smallest first: the points of its scale curve. */
export function scalePoints(results: RunResults, pool: string): { cell: Cell; mib: number; dumpMs: number }[] {
  return results.cells
    .filter((c) => c.pool === pool && c.check.startsWith('big-mem/') && c.status === 'PASS' && c.durations.dumpMs !== undefined)
    .map((c) => ({ cell: c, mib: Number(/(\d+)MiB/.exec(c.check)?.[1] ?? 0), dumpMs: c.durations.dumpMs! }))
    .sort((a, b) => a.mib - b.mib);
}
