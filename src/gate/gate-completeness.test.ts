import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { runGate } from './gate.ts';
import { Policy } from './policy.ts';
import { runDefects } from './run-defects.ts';

// What is absent cannot pass: "current" runs below are the recorded real run with something taken away.
const real = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const copy = (): RunResults => structuredClone(real);
const policy = (p: unknown = {}) => Policy.parse(p);
const TODAY = '2026-11-25';
const without = (pool: string): RunResults => {
  const r = copy();
  r.pools = r.pools.filter((p) => p.name !== pool);
  r.cells = r.cells.filter((c) => c.pool !== pool);
  return r;
};

describe('the gate fails on what is missing or cannot be judged', () => {
  test('a pool of the baseline absent now is a regression, unless the policy retires it until a date', () => {
    const g = runGate(real, without('k6.1-trixie'), policy(), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.regressions).toEqual([expect.objectContaining({ kind: 'missing-pool', pool: 'k6.1-trixie', before: "in the baseline (53 cells, 49 PASS)", after: 'not in this run' })]);

    const retire = (expires: string) => policy({ retired: [{ pool: 'k6.1-*', reason: 'bookworm images only from now on', expires }] });
    const ok = runGate(real, without('k6.1-trixie'), retire('2027-01-31'), { today: TODAY });
    expect(ok).toMatchObject({ passed: true, regressions: [] });
    expect(ok.retired).toEqual([expect.objectContaining({ kind: 'missing-pool', pool: 'k6.1-trixie', detail: 'retired until 2027-01-31: bookworm images only from now on' })]);

    // One shard of a sharded matrix: the other shards' pools are missing, and the gate says what to gate instead.
    const shard = { ...without('k6.1-trixie'), shard: { index: 2, count: 4 } };
    expect(runGate(real, shard, policy(), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'missing-pool', detail: expect.stringMatching(/^this run is shard 2\/4: gate the merged run/) })]);

    // Expired: fails like an expired known issue, and the pool is missing again.
    const expired = runGate(real, without('k6.1-trixie'), retire('2026-11-01'), { today: TODAY });
    expect(expired.regressions.map((f) => f.kind).sort()).toEqual(['expired-retirement', 'missing-pool']);
    expect(expired.regressions.find((f) => f.kind === 'expired-retirement')!.detail).toMatch(/accept a new baseline without it/);
    // Expired, and nothing it retires is missing: remove the entry.
    expect(runGate(real, real, retire('2026-11-01'), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'expired-retirement', detail: expect.stringMatching(/remove this entry$/) })]);
  });

  test('a run without pools or cells, and an interrupted run, fail the gate', () => {
    const empty = { ...copy(), pools: [], cells: [] };
    const e = runGate(real, empty, policy(), { today: TODAY });
    expect(e.passed).toBe(false);
    expect(e.regressions.map((f) => f.kind)).toContain('empty-run');
    expect(e.regressions.filter((f) => f.kind === 'missing-pool')).toHaveLength(real.pools.length);

    const interrupted = { ...copy(), interrupted: true };
    expect(runGate(real, interrupted, policy(), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'interrupted-run', after: 'interrupted' })]);
  });

  test('a cell twice in the run fails the gate, and the worse of the two is judged', () => {
    const dup = copy();
    const c = dup.cells.find((x) => x.pool === 'k6.12-trixie' && x.check === 'threads')!;
    expect(c.status).toBe('PASS');
    dup.cells.push({ ...structuredClone(c), status: 'FAIL', reason: 'second copy' });
    const g = runGate(real, dup, policy(), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.regressions).toEqual([
      expect.objectContaining({ kind: 'duplicate-cell', pool: 'k6.12-trixie', what: 'round-trip/threads', after: '2 times' }),
      expect.objectContaining({ kind: 'status', pool: 'k6.12-trixie', what: 'round-trip/threads', after: 'FAIL' }),
    ]);
  });

  test('in a pool that ran, a cell that PASSed in the baseline and did not run is a regression; one that did not pass is listed; a retired check is neither', () => {
    const cur = copy();
    const gone = (pool: string, check: string) => cur.cells.findIndex((x) => x.pool === pool && x.check === check);
    const passed = real.cells.find((x) => x.pool === 'k6.12-trixie' && x.check === 'threads')!;
    const failed = real.cells.find((x) => x.pool === 'k5.10-trixie' && x.suite === 'round-trip' && x.status === 'FAIL')!;
    cur.cells.splice(gone('k6.12-trixie', 'threads'), 1);
    cur.cells.splice(gone('k5.10-trixie', failed.check), 1);
    expect(passed.status).toBe('PASS');
    const g = runGate(real, cur, policy(), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.regressions).toEqual([expect.objectContaining({ kind: 'missing-cell', pool: 'k6.12-trixie', what: 'round-trip/threads', before: 'PASS', after: 'not run' })]);
    expect(g.missingCells).toEqual([{ pool: 'k5.10-trixie', what: `round-trip/${failed.check}`, status: 'FAIL' }]);

    const retired = runGate(real, cur, policy({ retired: [{ pool: '*', check: 'round-trip/threads', reason: 'threads moved to the stress suite', expires: '2027-01-31' }] }), { today: TODAY });
    expect(retired.passed).toBe(true);
    expect(retired.retired).toEqual([expect.objectContaining({ kind: 'missing-cell', pool: 'k6.12-trixie', what: 'round-trip/threads' })]);
  });

  test('runDefects names the path inside results.json: interrupted, pools, cells, a duplicate cell', () => {
    expect(runDefects(real)).toEqual([]);
    expect(runDefects({ ...copy(), interrupted: true })).toEqual([expect.objectContaining({ path: 'interrupted' })]);
    expect(runDefects({ ...copy(), pools: [], cells: [] }).map((d) => d.path)).toEqual(['pools', 'cells']);
    const dup = copy();
    dup.cells.push(structuredClone(dup.cells[3]!));
    expect(runDefects(dup)).toEqual([{ path: `cells[${real.cells.length}]`, expected: expect.stringMatching(/^each cell once \(.* is also cells\[3\]\)$/) }]);
  });
});
