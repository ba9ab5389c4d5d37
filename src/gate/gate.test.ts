import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { runGate } from './gate.ts';
import { renderGate } from './render.ts';
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

  test('a migration direction that regresses fails CI like any cell; a pair gone from the run is a missing PASS cell', () => {
    const mig = (source: string, destination: string, status: 'PASS' | 'FAIL') => ({ ...cell(real, 'k6.1-trixie', 'counter'), pool: source, suite: 'migration', check: `counter/cold → ${destination}`, workload: 'counter', mode: 'cold', source, destination, status });
    const base = copy();
    base.cells.push(mig('k6.1-trixie', 'k6.12-trixie', 'PASS'), mig('k6.12-trixie', 'k6.1-trixie', 'PASS'));
    const cur = structuredClone(base);
    cur.cells.find((c) => c.suite === 'migration' && c.source === 'k6.1-trixie')!.status = 'FAIL';
    cur.cells = cur.cells.filter((c) => !(c.suite === 'migration' && c.source === 'k6.12-trixie'));
    const g = runGate(base, cur, policy(), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.regressions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'status', pool: 'k6.1-trixie', what: 'migration/counter/cold → k6.12-trixie', before: 'PASS', after: 'FAIL' }),
        expect.objectContaining({ kind: 'missing-cell', pool: 'k6.12-trixie', what: 'migration/counter/cold → k6.1-trixie' }),
      ]),
    );
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

  test('flaky is not broken: repetitions that disagree at or above the minimum success rate, or a cell flipping across recent runs, is unstable', () => {
    const cur = copy();
    const c = cell(cur, 'k6.12-trixie', 'threads');
    Object.assign(c, { status: 'FAIL', repetitions: { attempts: 10, successes: 9, successRate: 0.9 } });
    const lenient = policy({ minSuccessRate: 0.8 });
    const g = runGate(real, cur, lenient, { today: TODAY });
    expect(g.regressions).toEqual([]);
    expect(g.unstable).toEqual([expect.objectContaining({ kind: 'success-rate', what: 'round-trip/threads', before: 'PASS (one attempt)', after: '9/10 passed', detail: expect.stringMatching(/at or above the minimum 80\.0%/) })]);
    expect(g.passed).toBe(true);
    expect(runGate(real, cur, policy({ minSuccessRate: 0.8, unstable: 'fail' }), { today: TODAY }).passed).toBe(false);

    // Without repetitions: FAIL now, and PASS → FAIL → PASS before: it flips, and the gate names the runs.
    const flip = copy();
    flip.runId = 'run-now';
    cell(flip, 'k6.12-trixie', 'threads').status = 'FAIL';
    const older = copy();
    older.runId = 'run-2';
    cell(older, 'k6.12-trixie', 'threads').status = 'FAIL';
    const oldest = { ...copy(), runId: 'run-1' };
    expect(runGate(real, flip, policy(), { today: TODAY }).regressions).toHaveLength(1);
    const h = runGate(real, flip, policy(), { today: TODAY, history: [oldest, older] });
    expect(h.regressions).toEqual([]);
    expect(h.unstable).toEqual([expect.objectContaining({ kind: 'status', what: 'round-trip/threads' })]);
    expect(h.unstable[0]!.detail).toContain(`flips across runs, oldest first: PASS in run-1, FAIL in run-2, PASS in ${real.runId} (baseline), FAIL in run-now (now)`);
  });

  test('minSuccessRate: a success rate below the minimum where the baseline was above it is a regression, with attempts before and after', () => {
    const cur = copy();
    Object.assign(cell(cur, 'k6.12-trixie', 'threads'), { status: 'FAIL', repetitions: { attempts: 5, successes: 1, successRate: 0.2 } });
    const g = runGate(real, cur, policy({ minSuccessRate: 0.8 }), { today: TODAY });
    expect(g.passed).toBe(false);
    expect(g.unstable).toEqual([]);
    expect(g.regressions).toEqual([expect.objectContaining({ kind: 'success-rate', pool: 'k6.12-trixie', what: 'round-trip/threads', before: 'PASS (one attempt)', after: '1/5 passed', detail: expect.stringMatching(/^success rate 20\.0% is below the policy's minimum 80\.0%/) })]);
    // Repeated in the baseline too: its attempts are the "before".
    const base = copy();
    Object.assign(cell(base, 'k6.12-trixie', 'threads'), { repetitions: { attempts: 5, successes: 5, successRate: 1 } });
    expect(runGate(base, cur, policy(), { today: TODAY }).regressions).toEqual([expect.objectContaining({ kind: 'success-rate', before: '5/5 passed', after: '1/5 passed' })]);
    // Already below the minimum in the baseline: not a new regression, still unstable.
    Object.assign(cell(base, 'k6.12-trixie', 'threads'), { status: 'FAIL', repetitions: { attempts: 5, successes: 2, successRate: 0.4 } });
    const again = runGate(base, cur, policy(), { today: TODAY });
    expect(again.regressions).toEqual([]);
    expect(again.unstable).toEqual([expect.objectContaining({ kind: 'success-rate', detail: expect.stringMatching(/below the minimum 99\.0% in the baseline already/) })]);
  });

  test('a cell that regressed and also breaks a rule is counted once, naming both', () => {
    // host-trixie round trips FAIL in the real run; a baseline where counter PASSed there.
    const base = copy();
    Object.assign(cell(base, 'host-trixie', 'counter'), { status: 'PASS', reason: 'restored workload verified its own state', diagnoses: [] });
    const rule = policy({ rules: [{ name: 'CRIU 4.1+ on 6.13+', when: { criu: '>=4.1', kernel: '>=6.13' }, check: 'round-trip/*', must: 'PASS_OR_SKIP' }] });
    const g = runGate(base, real, rule, { today: TODAY });
    expect(g.regressions).toHaveLength(runGate(real, real, rule, { today: TODAY }).regressions.length);
    const counter = g.regressions.filter((f) => f.what === 'round-trip/counter');
    expect(counter).toEqual([expect.objectContaining({ kind: 'status', pool: 'host-trixie', before: 'PASS', after: 'FAIL', also: ['rule "CRIU 4.1+ on 6.13+": must PASS_OR_SKIP'] })]);
    expect(renderGate(g, rule)).toMatch(/host-trixie › round-trip\/counter: PASS → FAIL \(also: rule "CRIU 4\.1\+ on 6\.13\+": must PASS_OR_SKIP\)/);
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
    expect(expired.regressions.find((f) => f.kind === 'expired-known-issue')!.detail).toMatch(/fix it, or renew/);
    // Expired and nothing fails there any more: the entry is to be removed, not "fixed".
    const stale = runGate(real, real, known('2026-11-01'), { today: TODAY });
    expect(stale.passed).toBe(false);
    expect(stale.regressions).toEqual([expect.objectContaining({ kind: 'expired-known-issue', detail: expect.stringMatching(/matches no failing cell now: remove this entry$/) })]);
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
