import type { Cell, RunResults } from '../../results/schema.ts';
import { fmtNumber, type CellIds } from './format.ts';
import { MIGRATION_SUITE, migrationGrids } from '../../matrix/migration-grid.ts';

/** CRIU's frozen time: from its stats-dump (p50 when repeated), or as podman --print-stats reported it. */
const frozenOf = (c: Cell) => c.distribution?.['criuDump.frozenTimeUs']?.p50 ?? c.metrics.criuDump?.frozenTimeUs ?? c.metrics.runtimeStats?.['checkpoint.criu.frozenTimeUs'];

/** Frozen time per pool (rows) and check (columns). */
export function frozenSection(results: RunResults) {
  const checks = [...new Set(results.cells.filter((c) => c.suite !== MIGRATION_SUITE && frozenOf(c) !== undefined).map((c) => c.check))];
  const value = (pool: string, check: string) => {
    const c = results.cells.find((x) => x.pool === pool && x.check === check && frozenOf(x) !== undefined);
    return c ? fmtNumber('frozenTimeUs', frozenOf(c)!) : '–';
  };
  return { checks, rows: results.pools.map((p) => ({ pool: p.name, values: checks.map((k) => value(p.name, k)) })) };
}

/** Container migrations: checkpoint exported on one node, imported on a second one. */
export function migrationsSection(results: RunResults, ids: CellIds) {
  return results.cells
    .filter((c) => c.suite === 'runtime' && c.check.endsWith('/export-import'))
    .map((c) => ({
      id: ids(c),
      source: `${c.pool}`,
      destination: `${c.pool} (second node)`,
      runtime: c.check.split('/')[0]!,
      status: c.status,
      reason: c.reason,
      archive: c.metrics.archiveBytes !== undefined ? fmtNumber('Bytes', c.metrics.archiveBytes) : '–',
      downtime: c.durations.dumpMs !== undefined && c.durations.restoreMs !== undefined ? fmtNumber('Ms', c.durations.dumpMs + c.durations.restoreMs) : '–',
    }));
}

/** The source × destination grids of migrations between pools; each square opens its cell (reason, diagnosis, fallback, figures). */
export function migrationGridsSection(results: RunResults, ids: CellIds) {
  return migrationGrids(results).map((g) => ({
    title: g.title,
    destinations: g.destinations,
    rows: g.sources.map((s) => ({
      source: s,
      squares: g.destinations.map((d) => {
        const sq = g.square(s, d);
        const c = sq.cell;
        const down = c?.metrics.migration?.downtimeMs;
        return {
          id: c ? ids(c) : '',
          status: c?.status ?? 'NONE',
          diagonal: sq.diagonal,
          label: c ? c.status : '–',
          sub: c?.status === 'PASS' && down !== undefined ? fmtNumber('Ms', down) : c?.diagnoses.find((x) => x.blame !== 'note')?.title ?? '',
          title: c ? `${s} → ${d}: ${c.reason}` : `${s} → ${d}: not run`,
        };
      }),
    })),
  }));
}
