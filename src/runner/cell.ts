import type { TestContext } from 'vitest';
import { withUndiagnosed } from '../criu/diagnose.ts';
import type { Cell, Status } from '../results/schema.ts';

export interface CellMeta {
  cell?: Cell;
  /** A conditional check that was not needed (a pilot's variant when its primary stage passed): no cell, and not an ERROR. */
  omitted?: string;
}

/** What a cell is: where it ran, its check name, and the structured fields that say what the check is about. */
export type CellId = Pick<Cell, 'pool' | 'suite' | 'check'> & Partial<Pick<Cell, 'feature' | 'workload' | 'mode' | 'sizeMiB' | 'runtime' | 'source' | 'destination' | 'fixtureLibc' | 'pilot'>>;

export type CellDraft = Omit<Cell, keyof CellId | 'startedAt' | 'metrics' | 'commands' | 'diagnoses' | 'logExcerpt'> &
  Partial<Pick<Cell, 'metrics' | 'commands' | 'diagnoses' | 'logExcerpt'>>;

/**
 * Records a cell on the running test and makes vitest's verdict agree:
 * PASS passes, SKIP skips, FAIL and ERROR fail the test. The collector reads
 * the cell; vitest's own state is only a mirror of it.
 */
export function settle(ctx: TestContext, id: CellId, startedAt: Date, draft: CellDraft): void {
  const cell: Cell = {
    ...id,
    startedAt: startedAt.toISOString(),
    metrics: {},
    commands: [],
    diagnoses: [],
    logExcerpt: [],
    ...draft,
  };
  // A FAIL or ERROR always says something: the decisive lines of its log, or its reason, when no signature explains it.
  // A PASS or SKIP (a probe's exit 1 is a missing capability) has nothing to explain.
  if (cell.status === 'FAIL' || cell.status === 'ERROR') cell.diagnoses = withUndiagnosed(cell.diagnoses, { text: cell.logExcerpt.join('\n'), reason: cell.reason });
  else cell.diagnoses = cell.diagnoses.filter((d) => d.id !== 'undiagnosed');
  (ctx.task.meta as CellMeta).cell = cell;
  if (cell.status === 'SKIP') ctx.skip(cell.reason);
  if (cell.status !== 'PASS') throw new Error(`${cell.status}: ${cell.reason}`);
}
