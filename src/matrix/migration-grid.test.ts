import { describe, expect, test } from 'vitest';
import type { Cell, RunResults } from '../results/schema.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { renderGrids } from './text.ts';
import { migrationGrids } from './migration-grid.ts';

const cell = (source: string, destination: string, mode: string, status: Cell['status']): Cell => ({
  pool: source,
  suite: 'migration',
  check: `counter/${mode} → ${destination}`,
  workload: 'counter',
  mode,
  source,
  destination,
  status,
  reason: status,
  diagnoses: [],
  durations: { totalMs: 1 },
  metrics: {},
  logExcerpt: [],
  commands: [],
  startedAt: '2026-11-30T00:00:00.000Z',
});

const results = {
  pools: [{ name: 'host' }, { name: 'vm' }],
  cells: [cell('vm', 'host', 'cold', 'FAIL'), cell('host', 'host', 'cold', 'PASS'), cell('host', 'vm', 'cold', 'FAIL'), cell('vm', 'vm', 'cold', 'PASS'), cell('host', 'host', 'pre-copy', 'SKIP')],
} as unknown as RunResults;

describe('migration grids', () => {
  test('one grid per workload and mode, sources and destinations in pool order, the diagonal marked', () => {
    const [cold, pre] = migrationGrids(results);
    expect(cold!.title).toBe('counter/cold');
    expect(cold!.sources).toEqual(['host', 'vm']);
    expect(cold!.square('host', 'vm')).toMatchObject({ diagonal: false, cell: { status: 'FAIL' } });
    expect(cold!.square('vm', 'vm')).toMatchObject({ diagonal: true, cell: { status: 'PASS' } });
    expect(pre!.square('host', 'vm').cell).toBeNull();
    expect(renderGrids(results).slice(0, 3)).toEqual(['migration counter/cold: source ↓ destination →  host    vm', 'host                                            [PASS]  FAIL', 'vm                                              FAIL    [PASS]']);
  });

  test('the Markdown summary shows each grid with the diagonal in bold', () => {
    const md = renderMarkdown({ ...results, runId: 'r', summary: { PASS: 2, FAIL: 2, ERROR: 0, SKIP: 1 }, exitCode: 1, pools: [] } as unknown as RunResults);
    expect(md).toContain('| host | **✅ PASS** | ❌ FAIL |');
  });
});
