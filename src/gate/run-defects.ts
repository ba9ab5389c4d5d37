import type { Cell, RunResults } from '../results/schema.ts';

/** What makes a run unfit to judge or to be a baseline, as a path inside its results.json and what was expected there. */
export interface RunDefect {
  path: string;
  expected: string;
}

export interface DuplicateCell {
  /** The later occurrence's index in cells. */
  index: number;
  /** The first occurrence's index. */
  first: number;
  cell: Cell;
}

export const cellKey = (c: Pick<Cell, 'pool' | 'suite' | 'check'>): string => `${c.pool}\0${c.suite}/${c.check}`;

/** Cells that appear more than once (same pool, suite and check): a merge or an edit gone wrong. */
export function duplicateCells(cells: readonly Cell[]): DuplicateCell[] {
  const seen = new Map<string, number>();
  const out: DuplicateCell[] = [];
  cells.forEach((c, i) => {
    const k = cellKey(c);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else out.push({ index: i, first, cell: c });
  });
  return out;
}

/**
 * An interrupted run, a run without pools or cells, and a run with a cell
 * twice are no evidence: the gate fails on them and `baseline accept`
 * refuses them.
 */
export function runDefects(run: RunResults): RunDefect[] {
  const out: RunDefect[] = [];
  if (run.interrupted) out.push({ path: 'interrupted', expected: 'a complete run (this one was interrupted: the cells that did not finish are missing)' });
  if (run.pools.length === 0) out.push({ path: 'pools', expected: 'a run with at least one pool (this one has none)' });
  if (run.cells.length === 0) out.push({ path: 'cells', expected: 'a run with cells (this one has none)' });
  const dups = duplicateCells(run.cells);
  if (dups[0]) {
    const d = dups[0];
    out.push({ path: `cells[${d.index}]`, expected: `each cell once (${d.cell.pool} › ${d.cell.suite}/${d.cell.check} is also cells[${d.first}]${dups.length > 1 ? `; ${dups.length} duplicates in all` : ''})` });
  }
  return out;
}
