import { basename } from 'node:path';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { SerializedError } from 'vitest';
import { undiagnosed } from '../criu/diagnose.ts';
import type { Cell, NotRun } from '../results/schema.ts';
import type { CellMeta } from './cell.ts';
import type { Progress } from './progress.ts';

/**
 * A vitest reporter that turns test results into cells. A test that ended
 * without a recorded cell is a harness failure (an exception escaped, or an
 * environment broke in a hook): it becomes ERROR, never FAIL.
 */
export class CellCollector implements Reporter {
  private readonly byTest = new Map<string, Cell>();
  /** Set when the run is being stopped: tests without a verdict go to notRun. */
  interrupted = false;
  get cells(): Cell[] {
    return [...this.byTest.values()];
  }
  readonly runErrors: string[] = [];
  /** Tests that had no verdict when the run was interrupted: not run, not ERROR. */
  readonly notRun: NotRun[] = [];
  private readonly progress: Progress | undefined;
  private readonly done = new Map<string, number>();

  constructor(progress?: Progress) {
    this.progress = progress;
  }

  private where(tc: TestCase): { pool: string; suite: string; check: string } {
    const suite = basename(tc.module.moduleId).replace(/\.suite\.ts$/, '');
    // The pool is the outermost describe of the suite file.
    let top: TestCase['parent'] = tc.parent;
    while (top.type === 'suite' && top.parent.type === 'suite') top = top.parent;
    const pool = top.type === 'suite' ? top.name : '?';
    return { pool, suite, check: tc.name };
  }

  onTestCaseReady(tc: TestCase): void {
    const { pool, suite, check } = this.where(tc);
    this.progress?.update(pool, `${suite}: ${check}…`, true);
  }

  onTestCaseResult(tc: TestCase): void {
    const where = this.where(tc);
    const meta = tc.meta() as CellMeta;
    const result = tc.result();
    const n = (this.done.get(where.pool) ?? 0) + 1;
    this.done.set(where.pool, n);
    if (meta.cell) {
      this.byTest.set(cellKey(where), meta.cell);
      this.progress?.update(where.pool, `${where.suite}: ${where.check} ${meta.cell.status} (${n} done)`, meta.cell.status === 'PASS');
      return;
    }
    if (meta.omitted) {
      this.progress?.update(where.pool, `${where.suite}: ${where.check} not needed (${n} done)`, true);
      return;
    }
    if (this.interrupted) {
      // Stopped before it had a verdict (cancelled, or never started): not run, which is not an ERROR.
      if (!this.notRun.some((n) => cellKey(n) === cellKey(where))) this.notRun.push(where);
      this.progress?.update(where.pool, `${where.suite}: ${where.check} not run (interrupted)`);
      return;
    }
    // A test skipped because its suite's beforeAll failed: the hook's error is on the enclosing suite.
    const errors = result.state === 'failed' ? result.errors : suiteErrors(tc);
    const message = errors.map((e) => `${e.name ?? 'Error'}: ${e.message}`).join('; ') || (result.state === 'skipped' ? 'not run (a setup step failed)' : 'no result recorded');
    const diag = tc.diagnostic();
    this.byTest.set(cellKey(where), {
      ...where,
      status: 'ERROR',
      reason: `harness: ${message}`,
      diagnoses: [undiagnosed({ text: message, reason: `harness: ${message}` })],
      durations: { totalMs: diag?.duration ?? 0 },
      metrics: {},
      logExcerpt: errors.flatMap((e) => (e.stack ?? '').split('\n').slice(0, 6)),
      commands: [],
      startedAt: new Date(diag?.startTime ?? Date.now()).toISOString(),
    });
    this.progress?.update(where.pool, `${where.suite}: ${where.check} ERROR (${n} done)`);
  }

  /**
   * A suite file that threw while it was loaded or collected has no tests, so no test can turn into an ERROR cell:
   * without this the run would have no cell for it and pass (fail open). It becomes one ERROR cell per suite.
   */
  readonly loadErrors: { suite: string; message: string; stack: string[] }[] = [];

  onTestModuleEnd(m: TestModule): void {
    const errors = m.errors();
    if (!errors.length || [...m.children.allTests()].length > 0 || this.interrupted) return;
    const suite = basename(m.moduleId).replace(/\.suite\.ts$/, '');
    this.loadErrors.push({ suite, message: errors.map((e) => `${e.name ?? 'Error'}: ${e.message}`).join('; '), stack: errors.flatMap((e) => (e.stack ?? '').split('\n').slice(0, 6)) });
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    for (const e of unhandled) this.runErrors.push(`${e.name ?? 'Error'}: ${e.message}`);
  }
}

/** Cells are keyed by what they are, not by vitest's test id, which repeats across the run's waves. */
function cellKey(w: { pool: string; suite: string; check: string }): string {
  return `${w.pool}\0${w.suite}\0${w.check}`;
}

function suiteErrors(tc: TestCase): ReadonlyArray<{ name?: string; message: string; stack?: string }> {
  for (let p: TestCase['parent'] | TestModule = tc.parent; ; p = p.parent) {
    const errs = p.errors();
    if (errs.length) return errs;
    if (p.type === 'module') return [];
  }
}
