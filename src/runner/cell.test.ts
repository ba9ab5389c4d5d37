import type { TestContext } from 'vitest';
import { expect, test } from 'vitest';
import { undiagnosed } from '../criu/diagnose.ts';
import { settle, type CellMeta } from './cell.ts';

function settled(status: 'PASS' | 'FAIL' | 'ERROR' | 'SKIP', draft: { diagnoses?: ReturnType<typeof undiagnosed>[]; logExcerpt?: string[]; reason: string }) {
  const ctx = { task: { meta: {} }, skip: () => {} } as unknown as TestContext;
  try {
    settle(ctx, { pool: 'p', suite: 's', check: 'c' }, new Date(), { status, durations: { totalMs: 1 }, ...draft });
  } catch {
    // FAIL and ERROR fail the test by throwing; the cell is recorded first.
  }
  return (ctx.task.meta as CellMeta).cell!;
}

test('a FAIL or ERROR no signature explains is undiagnosed with its decisive lines; a PASS or SKIP carries no such entry', () => {
  const fail = settled('FAIL', { reason: 'criu dump failed (exit 1)', logExcerpt: ['(00.1) Error (criu/x.c:1): never seen before', '(00.2) Error (criu/cr-dump.c:2111): Dumping FAILED.'] });
  expect(fail.diagnoses).toMatchObject([{ id: 'undiagnosed', blame: 'note', evidence: '(00.1) Error (criu/x.c:1): never seen before | (00.2) Error (criu/cr-dump.c:2111): Dumping FAILED.' }]);
  const harness = settled('ERROR', { reason: 'harness: the node did not answer' });
  expect(harness.diagnoses).toMatchObject([{ id: 'undiagnosed', evidence: 'harness: the node did not answer' }]);
  const skip = settled('SKIP', { reason: 'capability missing: uffd', diagnoses: [undiagnosed({ text: 'Error (criu/uffd.c:1): x', stage: 'check' })] });
  expect(skip.diagnoses).toEqual([]);
});
