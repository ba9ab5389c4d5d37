import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { runGate } from './gate.ts';
import { Policy, globMatch, looseVersion } from './policy.ts';

// A real run of the embedded default here; "current" runs below are that run with one thing changed.
const real = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const copy = (): RunResults => structuredClone(real);
const cell = (r: RunResults, pool: string, check: string) => r.cells.find((c) => c.pool === pool && c.check === check)!;
const policy = (p: unknown = {}) => Policy.parse(p);
const TODAY = '2026-11-25';

describe('regression gate', () => {
  test('a run against itself passes', () => {
    const g = runGate(real, real, policy(), { today: TODAY });
    expect(g).toMatchObject({ passed: true, regressions: [], unstable: [], improvements: [] });
  });

  test('PASS → FAIL is a regression with the diagnosis; FAIL → PASS an improvement, never a failure', () => {
    const cur = copy();
    Object.assign(cell(cur, 'k6.1-trixie', 'counter'), cell(real, 'k5.10-trixie', 'counter'), { pool: 'k6.1-trixie' });
    Object.assign(cell(cur, 'k5.10-bookworm', 'threads'), cell(real, 'k6.1-bookworm', 'threads'), { pool: 'k5.10-bookworm' });
    const g = runGate(real, cur, policy(), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.regressions).toEqual([expect.objectContaining({ kind: 'status', pool: 'k6.1-trixie', what: 'round-trip/counter', before: 'PASS', after: 'FAIL', detail: expect.stringMatching(/rseq.*fix: Move the node pool/) })]);
    expect(g.improvements).toEqual([expect.objectContaining({ pool: 'k5.10-bookworm', what: 'round-trip/threads', after: 'PASS' })]);
  });

  test('a lost capability is a regression', () => {
    const cur = copy();
    cur.pools.find((p) => p.name === 'k6.12-trixie')!.capabilities.mem_dirty_track = false;
    expect(runGate(real, cur, policy(), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'capability', what: 'criu-check/feature:mem_dirty_track' })]);
  });

  test('metric thresholds: frozen time +50% fails, +40% does not; tiny baselines are noise', () => {
    const cur = copy();
    const c = cell(cur, 'k6.1-bookworm', 'counter');
    const before = c.metrics.criuDump!.frozenTimeUs!;
    c.metrics.criuDump!.frozenTimeUs = before * 1.4;
    expect(runGate(real, cur, policy(), { today: TODAY }).passed).toBe(true);
    c.metrics.criuDump!.frozenTimeUs = before * 1.6;
    expect(runGate(real, cur, policy(), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'metric', what: 'round-trip/counter criuDump.frozenTimeUs' })]);
    expect(runGate(real, cur, policy({ metrics: [{ metric: 'criuDump.frozenTimeUs', maxIncrease: 0.5, minBaseline: before * 2 }] }), { today: TODAY }).passed).toBe(true);
  });

  test('flaky is not broken: repetitions that disagree, or a cell flipping across recent runs, is unstable', () => {
    const cur = copy();
    const c = cell(cur, 'k6.12-trixie', 'threads');
    Object.assign(c, { status: 'FAIL', repetitions: { attempts: 10, successes: 9, successRate: 0.9 } });
    const g = runGate(real, cur, policy(), { today: TODAY });
    expect(g.regressions).toEqual([]);
    expect(g.unstable).toEqual([expect.objectContaining({ what: 'round-trip/threads' })]);
    expect(g.passed).toBe(true);
    expect(runGate(real, cur, policy({ unstable: 'fail' }), { today: TODAY }).passed).toBe(false);

    // Without repetitions: FAIL now, and PASS → FAIL → PASS before: it flips.
    const flip = copy();
    cell(flip, 'k6.12-trixie', 'threads').status = 'FAIL';
    const older = copy();
    cell(older, 'k6.12-trixie', 'threads').status = 'FAIL';
    expect(runGate(real, flip, policy(), { today: TODAY }).regressions).toHaveLength(1);
    const h = runGate(real, flip, policy(), { today: TODAY, history: [copy(), older] });
    expect(h.regressions).toEqual([]);
    expect(h.unstable).toHaveLength(1);
  });

  test('known issues turn a failure into an expected one until they expire; an expired one fails loudly', () => {
    const cur = copy();
    cell(cur, 'k6.1-trixie', 'counter').status = 'FAIL';
    const known = (expires: string) => policy({ knownIssues: [{ pool: 'k6.1-*', check: 'round-trip/counter', reason: 'INFRA-1', expires }] });
    const ok = runGate(real, cur, known('2026-12-31'), { today: TODAY });
    expect(ok).toMatchObject({ passed: true, regressions: [] });
    expect(ok.expected).toHaveLength(1);
    const expired = runGate(real, cur, known('2026-11-01'), { today: TODAY });
    expect(expired.passed).toBe(false);
    expect(expired.regressions.map((f) => f.kind).sort()).toEqual(['expired-known-issue', 'status']);
  });

  test('version rules with semver ranges and real kernel strings', () => {
    expect(looseVersion('6.1.0-56-amd64')!.version).toBe('6.1.0');
    expect(looseVersion('6.18.44-fc-v782')!.version).toBe('6.18.44');
    expect(looseVersion('6.12.117+deb13-amd64')!.version).toBe('6.12.117');
    expect(globMatch('round-trip/*', 'round-trip/big-mem/64MiB')).toBe(true);
    const rule = (when: object) => policy({ rules: [{ when, check: 'round-trip/*', must: 'PASS_OR_SKIP' }] });
    // criu >= 4.1 on kernel >= 6.13: only host-trixie (hangs here) breaks it; host-trixie-nobp passes.
    const g = runGate(real, real, rule({ criu: '>=4.1', kernel: '>=6.13' }), { today: TODAY });
    expect(new Set(g.regressions.map((f) => f.pool))).toEqual(new Set(['host-trixie']));
    // On kernels 5.13 up to 6.13 every node image must round-trip: true here.
    expect(runGate(real, real, rule({ kernel: '>=5.13 <6.13' }), { today: TODAY }).passed).toBe(true);
    // And on 5.10 it does not (rseq).
    expect(new Set(runGate(real, real, rule({ kernel: '<5.13' }), { today: TODAY }).regressions.map((f) => f.pool))).toEqual(new Set(['k5.10-bookworm', 'k5.10-trixie']));
  });
});
