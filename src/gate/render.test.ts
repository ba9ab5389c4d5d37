import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { gateRuns } from '../../bench/gate-runs.ts';
import { RunResults } from '../results/schema.ts';
import { runGate } from './gate.ts';
import { Policy } from './policy.ts';
import { renderGate, renderGateMarkdown } from './render.ts';

const real = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const copy = (): RunResults => structuredClone(real);
const cell = (r: RunResults, pool: string, check: string) => r.cells.find((c) => c.pool === pool && c.check === check)!;
const TODAY = '2026-11-25';

describe('the gate summary (Markdown)', () => {
  // One run with something of each kind: an expected failure, an unstable cell, an improvement, a cell not run, a new cell.
  const base = copy();
  Object.assign(cell(base, 'k6.1-bookworm', 'threads'), { status: 'FAIL' });
  const cur = copy();
  cur.runId = 'run-now';
  cell(cur, 'k6.1-trixie', 'counter').status = 'FAIL';
  Object.assign(cell(cur, 'k6.12-trixie', 'threads'), { status: 'FAIL', repetitions: { attempts: 10, successes: 9, successRate: 0.9 } });
  const notRun = real.cells.find((c) => c.pool === 'k5.10-trixie' && c.status === 'FAIL')!;
  cur.cells = cur.cells.filter((c) => c !== cell(cur, 'k5.10-trixie', notRun.check));
  cur.cells.push({ ...structuredClone(cell(real, 'k6.12-trixie', 'counter')), check: 'counter-v2' });
  const policy = Policy.parse({ minSuccessRate: 0.8, knownIssues: [{ pool: 'k6.1-trixie', check: 'round-trip/counter', reason: 'INFRA-7', expires: '2026-12-31' }] });
  const g = runGate(base, cur, policy, { today: TODAY });

  test('is headed by the gate verdict and lists known issues, unstable, improved, not-run and new cells by name', () => {
    expect(g.passed).toBe(true);
    const md = renderGateMarkdown(g, policy, base, cur);
    expect(md.split('\n')[0]).toBe('## criu-compat gate: PASS');
    // The run's own verdict (it has FAIL cells) is not the headline, only a section below the gate's lists.
    expect(md).not.toMatch(/^## criu-compat: /m);
    expect(md).toMatch(/^### The run: some tuples FAIL$/m);
    expect(md.indexOf('### Expected by known issues (1)')).toBeLessThan(md.indexOf('| pool |'));
    expect(md).toMatch(/### Expected by known issues \(1\)\n\n- \*\*k6\.1-trixie\*\* › round-trip/m);
    expect(md).toMatch(/INFRA-7/);
    expect(md).toMatch(/### Unstable \(reported, does not fail the gate\) \(1\)\n\n- \*\*k6\.12-trixie\*\* › round-trip\/threads: PASS \(one attempt\) → 9\/10 passed/);
    expect(md).toMatch(/### Improvements \(1\)\n\n- \*\*k6\.1-bookworm\*\* › round-trip\/threads: FAIL → PASS/);
    expect(md).toContain(`### Not run now, did not pass in the baseline (1)\n\n- **k5.10-trixie** › round-trip/${notRun.check} (FAIL)`);
    expect(md).toContain('### New cells (1)\n\n- **k6.12-trixie** › round-trip/counter-v2 (PASS)');
  });

  test('a failing gate says FAIL first and lists its regressions before the matrix', () => {
    const bad = runGate(real, cur, Policy.parse({}), { today: TODAY });
    const md = renderGateMarkdown(bad, Policy.parse({}), real, cur);
    expect(md.split('\n')[0]).toBe('## criu-compat gate: FAIL');
    expect(md.indexOf('### Regressions (2)')).toBeLessThan(md.indexOf('| pool |'));
    expect(renderGate(bad, Policy.parse({})).split('\n').at(-1)).toBe('gate: FAIL (2 regressions)');
  });
});

describe('speed', () => {
  test('56,000 cells, 5,000 regressions and a --history run are judged and rendered in well under the 2 s target', () => {
    const { baseline, current, history } = gateRuns({ cells: 56_000, regressions: 5_000, flipping: 1_000 });
    const policy = Policy.parse({ rules: [{ when: { criu: '>=4.1', kernel: '>=6.13' }, check: 'round-trip/*', must: 'PASS_OR_SKIP' }] });
    const t0 = performance.now();
    const g = runGate(baseline, current, policy, { history: [history] });
    renderGate(g, policy);
    const ms = performance.now() - t0;
    console.log(`gate on 56,000 cells: ${ms.toFixed(0)} ms`);
    expect(g.regressions.length + g.unstable.length).toBeGreaterThanOrEqual(5_000);
    expect(g.unstable.length).toBeGreaterThan(900);
    // The bench (npm run bench) holds the 2 s target; a loaded, shared machine gets slack here (2.7 s seen at load 7 on 2 cores). The quadratic code took 13-37 s.
    expect(ms).toBeLessThan(8_000);
  }, 60_000);
});
