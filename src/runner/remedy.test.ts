/**
 * What a remedy re-run concludes from the attempt it ran (the attempt here is
 * a script; the real re-runs are in test/e2e/remedy.test.ts): the mapping to
 * verified / did not help / could not run, and that the cell's own verdict
 * is never touched.
 */
import { describe, expect, test } from 'vitest';
import type { Diagnosis } from '../criu/diagnose.ts';
import type { Environment } from '../environments/environment.ts';
import type { Status } from '../results/schema.ts';
import type { CellDraft } from './cell.ts';
import { remedyCell, RemedyCannotRun } from './remedy.ts';
import type { Attempt, RepeatContext } from './repeat.ts';

let pools = 0;
/** A pool of its own per test: the re-run budget (settings.remedyReruns) is per pool, suite and cause. */
function context() {
  const removed: string[] = [];
  const env = { workDir: '/w', remove: async (p: string) => void removed.push(p), copyOut: async (_: string, to: string) => to } as unknown as Environment;
  const x: RepeatContext = { plan: { keepArtifacts: false, settings: { repeat: 1 } }, pool: { name: `p${pools++}` }, suite: 'round-trip', check: 'counter/pre-dump', env };
  return { x, removed };
}

const rseq: Diagnosis = { id: 'rseq-no-get-rseq-conf', fatal: false, title: 't', cause: 'c', remediation: 'r', blame: 'tuple', evidence: 'e' };
const failed = (diagnoses = [rseq]): CellDraft => ({ status: 'FAIL', reason: 'criu dump failed', durations: { totalMs: 1 }, diagnoses });
const attempt = (status: Status, over: Partial<Attempt> = {}): Attempt => ({ status, reason: `${status} reason`, durations: { totalMs: 42 }, metrics: {}, diagnoses: [], logExcerpt: [], commands: ['criu dump'], workloadOutput: [], ...over });

describe('remedyCell', () => {
  test('at most settings.remedyReruns re-runs per pool, suite and cause; the rest are not re-run (no remedy entry)', async () => {
    const { x } = context();
    const budget = { ...x, plan: { ...x.plan, settings: { repeat: 1, remedyReruns: 2 } } };
    let runs = 0;
    const results = [];
    for (const check of ['a', 'b', 'c', 'd']) results.push(await remedyCell({ ...budget, check }, failed(), async () => (runs++, attempt('PASS'))));
    expect(runs).toBe(2);
    expect(results.map((r) => r?.result)).toEqual(['remedy verified', 'remedy verified', undefined, undefined]);
    // Another suite on the same pool has a budget of its own.
    expect(await remedyCell({ ...budget, suite: 'runtime', check: 'e' }, failed(), async () => attempt('PASS'))).toMatchObject({ result: 'remedy verified' });
  });

  test.for([
    ['PASS', 'remedy verified'],
    ['FAIL', 'remedy did not help'],
    ['ERROR', 'remedy could not run'],
    ['SKIP', 'remedy could not run'],
  ] as const)('a re-run that ends %s: %s', async ([status, result]) => {
    const { x, removed } = context();
    const draft = failed();
    const seen: string[] = [];
    const r = await remedyCell(x, draft, async (dir, plan) => (seen.push(dir, plan.applied), attempt(status, status === 'FAIL' ? { diagnoses: [rseq, rseq] } : {})));
    expect(seen).toEqual(['/w/cells/counter_pre-dump.remedy', 'GLIBC_TUNABLES=glibc.pthread.rseq=0']);
    expect(r).toMatchObject({ signature: 'rseq-no-get-rseq-conf', applied: 'GLIBC_TUNABLES=glibc.pthread.rseq=0', status, result, reason: `${status} reason`, commands: ['criu dump'], durationMs: 42 });
    expect(r!.diagnoses).toEqual(status === 'FAIL' ? ['rseq-no-get-rseq-conf'] : undefined);
    expect(draft.status).toBe('FAIL');
    expect(removed).toContain('/w/cells/counter_pre-dump.remedy');
  });

  test('a re-run that cannot be made or breaks is "could not run", ERROR, never PASS', async () => {
    const { x } = context();
    const cannot = await remedyCell(x, failed(), async () => {
      throw new RemedyCannotRun('runtime runc is not in this node image');
    });
    expect(cannot).toMatchObject({ status: 'ERROR', result: 'remedy could not run', reason: 'runtime runc is not in this node image' });
    const broke = await remedyCell(x, failed(), async () => {
      throw new Error('environment gone');
    });
    expect(broke).toMatchObject({ status: 'ERROR', result: 'remedy could not run', reason: 'harness: the re-run broke: environment gone' });
  });

  test('an interrupted run is not a broken remedy: the abort goes on', async () => {
    const { x } = context();
    const ctl = new AbortController();
    ctl.abort();
    await expect(remedyCell(x, failed(), async () => Promise.reject(new Error('aborted')), { signal: ctl.signal })).rejects.toThrow('aborted');
  });

  test('nothing to do: a PASS, an ERROR, a FAIL without a remedy', async () => {
    const { x } = context();
    let ran = 0;
    const go = async () => (ran++, attempt('PASS'));
    expect(await remedyCell(x, { ...failed(), status: 'PASS' }, go)).toBeUndefined();
    expect(await remedyCell(x, { ...failed(), status: 'ERROR' }, go)).toBeUndefined();
    expect(await remedyCell(x, failed([{ ...rseq, id: 'vdso-bounds' }]), go)).toBeUndefined();
    expect(await remedyCell(x, failed([{ ...rseq, blame: 'note' }]), go)).toBeUndefined();
    expect(ran).toBe(0);
  });

  test('settings.remedies false: no re-run at all', async () => {
    const { x } = context();
    let ran = 0;
    const off = { ...x, plan: { ...x.plan, settings: { repeat: 1, remedies: false } } };
    expect(await remedyCell(off, failed(), async () => (ran++, attempt('PASS')))).toBeUndefined();
    expect(ran).toBe(0);
  });

  test("a remedy already in the pool's CRIU environment was in effect when the cell failed: did not help, no re-run", async () => {
    const { x } = context();
    let ran = 0;
    const hang = { ...rseq, id: 'hw-breakpoints' };
    const r = await remedyCell(x, failed([hang]), async () => (ran++, attempt('PASS')), { inEffect: { CRIU_FAULT: '130' } });
    expect(ran).toBe(0);
    expect(r).toEqual({ signature: 'hw-breakpoints', applied: 'CRIU_FAULT=130', status: 'FAIL', result: 'remedy did not help', reason: "already in effect: the pool's criu.env sets CRIU_FAULT=130, and the cell failed with it" });
  });
});
