import { featureCells, featureOf, poolLabels, suitesOf, worstStatus } from '../../matrix/model.ts';
import type { PoolResult, RunResults, Status } from '../../results/schema.ts';
import type { CellIds } from './format.ts';
import { MIGRATION_SUITE } from '../../matrix/migration-grid.ts';

const FEATURES_COLUMN = 'features';
/** The migration suite gets one column (each pool's outgoing migrations); its source × destination grids have their own section. */
const PAIRS_COLUMN = 'pairs';

interface CellView {
  id: string;
  status: Status | 'NONE';
  label: string;
  title: string;
}

/** Matrix columns: criu-check's three checks plus one "features" column; every other suite's checks in order. */
function columnsOf(results: RunResults): { suite: string; check: string }[] {
  // Within each suite its checks in order of first appearance (suites run side by side, so cells interleave).
  const bySuite = new Map<string, string[]>(suitesOf(results).map((s) => [s, []]));
  for (const c of results.cells) {
    const check = featureOf(c) !== null ? FEATURES_COLUMN : c.suite === MIGRATION_SUITE ? PAIRS_COLUMN : c.check;
    const list = bySuite.get(c.suite)!;
    if (!list.includes(check)) list.push(check);
  }
  return [...bySuite].flatMap(([suite, checks]) => checks.map((check) => ({ suite, check })));
}

/** The features column: present of probed, worst of the probes that did not SKIP; links to a broken probe. */
function featuresCell(results: RunResults, p: PoolResult, ids: CellIds): CellView {
  const fs = featureCells(results, p.name);
  const s = worstStatus(fs.filter((c) => c.status !== 'SKIP').map((c) => c.status)) ?? (fs.length ? 'SKIP' : null);
  const ok = fs.filter((c) => c.status === 'PASS').length;
  const broken = fs.find((c) => c.status === 'FAIL' || c.status === 'ERROR');
  return { id: broken ? ids(broken) : '', status: s ?? 'NONE', label: fs.length ? `${ok}/${fs.length}` : '–', title: `${ok} of ${fs.length} features present` };
}

/** The pairs column: the worst of the pool's outgoing migrations, passed of all; links to the grids. */
function pairsCell(results: RunResults, p: PoolResult): CellView {
  const cs = results.cells.filter((c) => c.suite === MIGRATION_SUITE && c.pool === p.name);
  if (!cs.length) return { id: '', status: 'NONE', label: '–', title: 'no migration from this pool' };
  const ok = cs.filter((c) => c.status === 'PASS').length;
  return { id: 'migration-grids', status: worstStatus(cs.map((c) => c.status)) ?? 'NONE', label: `${ok}/${cs.length}`, title: `${ok} of ${cs.length} migrations from ${p.name} passed: see the source × destination grids` };
}

/** The matrix: suites as column groups, one column per check, one row per pool with its labels and cells. */
export function matrixSection(results: RunResults, ids: CellIds) {
  const cols = columnsOf(results);
  const cellOf = (p: PoolResult, col: { suite: string; check: string }): CellView => {
    if (col.check === FEATURES_COLUMN) return featuresCell(results, p, ids);
    if (col.suite === MIGRATION_SUITE && col.check === PAIRS_COLUMN) return pairsCell(results, p);
    const c = results.cells.find((x) => x.pool === p.name && x.suite === col.suite && x.check === col.check);
    if (!c) return { id: '', status: p.error ? 'ERROR' : 'NONE', label: p.error ? 'ERROR' : '–', title: p.error ?? 'not run' };
    const label = c.repetitions ? `${c.status} ${c.repetitions.successes}/${c.repetitions.attempts}` : c.status;
    return { id: ids(c), status: c.status, label, title: c.reason };
  };
  return {
    suites: [...new Set(cols.map((c) => c.suite))].map((suite) => ({ suite, span: cols.filter((c) => c.suite === suite).length })),
    columns: cols.map((c) => ({ ...c, label: c.check })),
    pools: results.pools.map((p) => ({
      ...poolLabels(p),
      description: p.description ?? '',
      kernelSource: p.kernel,
      image: p.image?.name ?? '?',
      imageTitle: p.image ? `${p.image.osRelease}, ${p.inventory?.libc ?? 'libc ?'}` : '',
      libc: p.inventory?.libc ?? '?',
      error: p.error ?? '',
      cells: cols.map((col) => cellOf(p, col)),
    })),
  };
}
