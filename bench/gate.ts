/**
 * npm run bench — the regression gate on a large matrix: 56,000 cells (the
 * recorded real run's pools replicated), 5,000 of them regressed, one
 * --history run in which 1,000 of those failed before (unstable), a version
 * rule and a known issue. Times runGate + renderGate; target < 2 s.
 */
import { runGate } from '../src/gate/gate.ts';
import { renderGate } from '../src/gate/render.ts';
import { Policy } from '../src/gate/policy.ts';
import { gateRuns } from './gate-runs.ts';

const TARGET_MS = 2000;
const { baseline, current, history } = gateRuns({ cells: 56_000, regressions: 5_000, flipping: 1_000 });
const policy = Policy.parse({
  knownIssues: [{ pool: 'k5.10-*', check: 'round-trip/*', reason: 'rseq on 5.10', expires: '2999-01-01' }],
  rules: [{ name: 'CRIU 4.1+ on kernels 6.13+ must round-trip', when: { criu: '>=4.1', kernel: '>=6.13' }, check: 'round-trip/*', must: 'PASS_OR_SKIP' }],
});
const t0 = performance.now();
const result = runGate(baseline, current, policy, { history: [history] });
const text = renderGate(result, policy);
const ms = performance.now() - t0;
console.log(`gate: ${current.cells.length} cells, ${result.regressions.length} regressions, ${result.unstable.length} unstable, ${result.expected.length} expected, report ${text.split('\n').length} lines`);
console.log(`  runGate + renderGate       ${ms.toFixed(0)} ms   (target < ${TARGET_MS / 1000} s${ms < TARGET_MS ? '' : ': MISSED'})`);
if (ms >= TARGET_MS) process.exitCode = 1;
