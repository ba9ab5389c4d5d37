import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { causeOf, failureGroups } from './groups.ts';
import { featureCell, featureCells, featureOf, poolLabels, scalePoints } from './model.ts';

// results.json of a real run of the embedded default (3 host pools, 6 VM pools).
const results = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));

describe('matrix model of a recorded real run', () => {
  test('featureOf names the CRIU feature a probe cell checks, and nothing for other cells; featureCell is its inverse', () => {
    const probes = featureCells(results, 'k6.1-trixie');
    expect(probes.length).toBeGreaterThan(30);
    expect(probes.map(featureOf)).toContain('mem_dirty_track');
    expect(featureOf({ suite: 'criu-check', check: 'check --all' })).toBeNull();
    expect(featureOf({ suite: 'round-trip', check: 'feature:x' })).toBeNull(); // only criu-check probes features
    expect(featureCell('pagemap_scan')).toEqual({ suite: 'criu-check', check: 'feature:pagemap_scan' });
    for (const c of probes) expect(featureOf(featureCell(featureOf(c)!))).toBe(featureOf(c));
    // Every capability a pool reports comes from one of its probes.
    const pool = results.pools.find((p) => p.name === 'k6.1-trixie')!;
    expect(Object.keys(pool.capabilities).sort()).toEqual(probes.filter((c) => c.status === 'PASS' || c.status === 'SKIP').map((c) => featureOf(c)!).sort());
  });

  test("failure groups hold their cells: host-bookworm's 41 criu-check failures are one group of one cause", () => {
    const groups = failureGroups(results);
    const g = groups.find((x) => x.pool === 'host-bookworm' && x.suite === 'criu-check')!;
    expect(g.cells).toHaveLength(41);
    expect(g.cells.map((c) => c.check)).toEqual(g.checks);
    expect(new Set(g.cells.map((c) => causeOf(c)?.id)).size).toBe(1);
    expect(groups.reduce((n, x) => n + x.cells.length, 0)).toBe(results.summary.FAIL + results.summary.ERROR);
  });

  test('pool labels: the kernel release the node ran and the accelerator a VM got', () => {
    expect(poolLabels(results.pools.find((p) => p.name === 'k5.10-bookworm')!)).toMatchObject({ kernel: '5.10.0-32-amd64', backend: 'qemu (tcg)', criu: '3.17.1', runtimes: '–' });
  });

  test('scale points: passing big-mem cells with a dump time, smallest first', () => {
    expect(scalePoints(results, 'host-trixie-nobp').map((p) => p.mib)).toEqual([64, 256, 1024]);
    expect(scalePoints(results, 'host-bookworm')).toEqual([]);
  });
});
