import type { Cell, RunResults, Status } from '../results/schema.ts';

/** The suite whose cells are migrations between pools (pool = source; source and destination fields). */
export const MIGRATION_SUITE = 'migration';

export interface GridSquare {
  source: string;
  destination: string;
  /** source = destination: the plain round trip. */
  diagonal: boolean;
  cell: Cell | null;
}

/** One source × destination grid: a workload in a mode. */
export interface MigrationGrid {
  /** "counter/cold", "big-mem/64MiB/pre-copy". */
  title: string;
  workload: string;
  mode: string;
  /** Sources (rows) and destinations (columns), in the results' pool order. */
  sources: string[];
  destinations: string[];
  square(source: string, destination: string): GridSquare;
}

/** The migration cells as grids, one per workload (and size) and mode, rows = source, columns = destination. */
export function migrationGrids(results: Pick<RunResults, 'pools' | 'cells'>): MigrationGrid[] {
  const cells = results.cells.filter((c) => c.suite === MIGRATION_SUITE && c.source !== undefined && c.destination !== undefined);
  const order = new Map(results.pools.map((p, i) => [p.name, i]));
  const byPool = (a: string, b: string) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9) || a.localeCompare(b);
  const groups = new Map<string, Cell[]>();
  for (const c of cells) {
    const title = `${c.workload ?? '?'}${c.sizeMiB ? `/${c.sizeMiB}MiB` : ''}/${c.mode ?? '?'}${c.mode === 'runtime' && c.runtime ? `/${c.runtime}` : ''}`;
    groups.set(title, [...(groups.get(title) ?? []), c]);
  }
  return [...groups].map(([title, cs]) => {
    const index = new Map(cs.map((c) => [`${c.source}\0${c.destination}`, c]));
    return {
      title,
      workload: cs[0]!.workload ?? '?',
      mode: cs[0]!.mode ?? '?',
      sources: [...new Set(cs.map((c) => c.source!))].sort(byPool),
      destinations: [...new Set(cs.map((c) => c.destination!))].sort(byPool),
      square: (source, destination) => ({ source, destination, diagonal: source === destination, cell: index.get(`${source}\0${destination}`) ?? null }),
    };
  });
}

/** Short status for a square of a text grid; the diagonal in brackets. */
export function squareLabel(s: GridSquare): string {
  const st: Status | '-' = s.cell?.status ?? '-';
  return s.diagonal ? `[${st}]` : st;
}
