import type { TestContext } from 'vitest';
import type { Diagnosis } from '../criu/diagnose.ts';
import type { Cell, Status } from '../results/schema.ts';

export interface CellMeta {
  cell?: Cell;
}

export type CellDraft = Omit<Cell, 'pool' | 'suite' | 'check' | 'startedAt' | 'metrics' | 'commands' | 'diagnoses' | 'logExcerpt'> &
  Partial<Pick<Cell, 'metrics' | 'commands' | 'diagnoses' | 'logExcerpt'>>;

/**
 * Status from an operation that failed: FAIL when the tuple is to blame,
 * ERROR when a known signature blames the environment.
 */
export function failureStatus(diagnoses: readonly Diagnosis[]): Status {
  return diagnoses.some((d) => d.blame === 'environment') ? 'ERROR' : 'FAIL';
}

/**
 * Records a cell on the running test and makes vitest's verdict agree:
 * PASS passes, SKIP skips, FAIL and ERROR fail the test. The collector reads
 * the cell; vitest's own state is only a mirror of it.
 */
export function settle(ctx: TestContext, id: { pool: string; suite: string; check: string }, startedAt: Date, draft: CellDraft): void {
  const cell: Cell = {
    ...id,
    startedAt: startedAt.toISOString(),
    metrics: {},
    commands: [],
    diagnoses: [],
    logExcerpt: [],
    ...draft,
  };
  (ctx.task.meta as CellMeta).cell = cell;
  if (cell.status === 'SKIP') ctx.skip(cell.reason);
  if (cell.status !== 'PASS') throw new Error(`${cell.status}: ${cell.reason}`);
}
