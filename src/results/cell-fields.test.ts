import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { capabilitiesOf, featureOf } from './cell-fields.ts';
import { Cell, RunResults } from './schema.ts';

const recorded = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const cell = (over: Partial<Cell>): Cell => ({ pool: 'p', suite: 'criu-check', check: 'version', status: 'PASS', reason: '', diagnoses: [], durations: { totalMs: 1 }, metrics: {}, logExcerpt: [], commands: [], startedAt: '2026-01-01T00:00:00.000Z', ...over });

describe('structured cell fields', () => {
  test('a results file written before cells carried them still validates, and its capabilities come out as recorded', () => {
    expect(recorded.cells.some((c) => c.feature !== undefined)).toBe(false);
    for (const p of recorded.pools) expect(capabilitiesOf(recorded.cells, p.name)).toEqual(p.capabilities);
  });

  test('the fields validate on a cell (feature, workload, mode, size, runtime, source and destination)', () => {
    const c = Cell.parse(cell({ suite: 'runtime', check: 'podman/counter/export-import', workload: 'counter', mode: 'migrate', runtime: 'podman', source: 'a', destination: 'b' }));
    expect([c.workload, c.mode, c.runtime, c.source, c.destination]).toEqual(['counter', 'migrate', 'podman', 'a', 'b']);
    expect(Cell.parse(cell({ suite: 'round-trip', check: 'big-mem/64MiB', workload: 'big-mem', mode: 'dump', sizeMiB: 64 })).sizeMiB).toBe(64);
    expect(() => Cell.parse(cell({ sizeMiB: 0 }))).toThrow();
  });

  test('the feature comes from the field; only for old files from a criu-check "feature:" check name', () => {
    expect(featureOf(cell({ check: 'mem_dirty_track probe', feature: 'mem_dirty_track' }))).toBe('mem_dirty_track');
    expect(featureOf(cell({ check: 'feature:uffd' }))).toBe('uffd');
    expect(featureOf(cell({ suite: 'round-trip', check: 'feature:uffd' }))).toBeNull();
    expect(featureOf(cell({ check: 'check --all' }))).toBeNull();
  });

  test('capabilities: PASS present, SKIP absent, anything else unknown; read from the feature field', () => {
    const cells = [
      cell({ check: 'a', feature: 'a', status: 'PASS' }),
      cell({ check: 'b', feature: 'b', status: 'SKIP' }),
      cell({ check: 'c', feature: 'c', status: 'ERROR' }),
      cell({ check: 'feature:d', status: 'PASS' }),
      cell({ pool: 'other', check: 'e', feature: 'e', status: 'PASS' }),
    ];
    expect(capabilitiesOf(cells, 'p')).toEqual({ a: true, b: false, d: true });
  });
});
