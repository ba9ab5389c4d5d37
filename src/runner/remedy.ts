import { describeRemedy, remedyFor, RemedyError, remedyTable, type Remedy } from '../criu/remedies.ts';
import type { CellRemedy, RemedyResult, Status } from '../results/schema.ts';
import type { CellDraft } from './cell.ts';
import type { Attempt, RepeatContext } from './repeat.ts';
import type { Environment } from '../environments/environment.ts';
import { audit } from '../artifacts/audit.ts';
import { keepSet, notKept } from '../artifacts/store.ts';

/** The remedy a re-run applies: the diagnosis it answers, what it changes, and how that reads. */
export interface RemedyPlan {
  signature: string;
  remedy: Remedy;
  applied: string;
}

/** The re-run cannot be made here (no such runtime on the node, a suite that has none): its message says why. */
export class RemedyCannotRun extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemedyCannotRun';
  }
}

/** Re-runs made so far in this worker, per pool, suite and diagnosis (settings.remedyReruns). */
const rerunsUsed = new Map<string, number>();

const RESULT: Record<Status, RemedyResult> = { PASS: 'remedy verified', FAIL: 'remedy did not help', ERROR: 'remedy could not run', SKIP: 'remedy could not run' };

export interface RemedyOptions {
  /** The pool's own CRIU environment: a remedy already in it was in effect when the cell failed. */
  inEffect?: Readonly<Record<string, string>>;
  /** The remedies by diagnosis id (the signatures' remedy blocks). */
  table?: Readonly<Record<string, Remedy>>;
  /** The cell's test signal: an interrupted run stops here rather than calling the remedy broken. */
  signal?: AbortSignal | undefined;
  /** Removes what the re-run left elsewhere (another node). */
  cleanup?: (dir: string) => Promise<void>;
  /** The re-run's directory, when the suite keeps its cells elsewhere than WORKDIR/cells (a migration: the same path on both nodes). */
  dir?: string;
  /** The environment the re-run's directory lives in, when the remedy needs another one than the cell's (its errors: could not run). */
  envFor?: (plan: RemedyPlan) => Promise<Environment>;
}

/**
 * After a FAIL whose diagnosis has a remedy the harness can apply: the cell
 * once more, with it (ATTEMPT applies it: an environment, CRIU options,
 * another runtime), in a directory of its own. What the re-run concluded is
 * the result: PASS → "remedy verified", FAIL → "remedy did not help",
 * anything else — an ERROR or SKIP, or a re-run that could not be made or
 * broke — "remedy could not run" (never a PASS). The cell's own verdict is
 * left alone. undefined: not a FAIL, or no remedy.
 */
export async function remedyCell(x: RepeatContext, draft: CellDraft, attempt: (dir: string, plan: RemedyPlan) => Promise<Attempt>, o: RemedyOptions = {}): Promise<CellRemedy | undefined> {
  if (draft.status !== 'FAIL' || x.plan.settings.remedies === false) return undefined;
  const found = remedyFor(draft.diagnoses ?? [], o.table ?? remedyTable());
  if (!found) return undefined;
  // A budget per pool, suite and cause: the group's line in the reports counts the cells beyond it as "not re-run".
  const budgetKey = `${x.pool.name}\0${x.suite}\0${found.signature}`;
  const used = rerunsUsed.get(budgetKey) ?? 0;
  if (used >= (x.plan.settings.remedyReruns ?? 3)) return undefined;
  rerunsUsed.set(budgetKey, used + 1);
  const plan: RemedyPlan = { ...found, applied: describeRemedy(found.remedy) };
  const base = { signature: plan.signature, applied: plan.applied };
  const env = Object.entries(found.remedy.env ?? {});
  if (env.length && !found.remedy.criuOptions?.length && !found.remedy.runtime && env.every(([k, v]) => o.inEffect?.[k] === v))
    return { ...base, status: 'FAIL', result: 'remedy did not help', reason: `already in effect: the pool's criu.env sets ${plan.applied}, and the cell failed with it` };

  const name = `${x.check.replace(/\//g, '_')}.remedy`;
  let where = x.env;
  let dir = o.dir ?? `${where.workDir}/cells/${name}`;
  const t0 = performance.now();
  let kept: string | undefined;
  const done = (r: CellRemedy): CellRemedy => (kept ? { ...r, artifacts: kept } : r);
  try {
    if (o.envFor) {
      where = await o.envFor(plan);
      dir = o.dir ?? `${where.workDir}/cells/${name}`;
    }
    await where.remove(dir);
    const a = await attempt(dir, plan);
    kept = await keepOrRemove();
    return done({
      ...base,
      status: a.status,
      result: RESULT[a.status],
      reason: a.reason,
      commands: a.commands,
      ...(a.status !== 'PASS' && a.diagnoses.length ? { diagnoses: [...new Set(a.diagnoses.map((d) => d.id))] } : {}),
      durationMs: a.durations.totalMs,
    });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    await keepOrRemove().catch(() => undefined);
    const known = e instanceof RemedyCannotRun || e instanceof RemedyError;
    return { ...base, status: 'ERROR', result: 'remedy could not run', reason: known ? (e as Error).message : `harness: the re-run broke: ${(e as Error).message}`, durationMs: performance.now() - t0 };
  }

  /** As the cell's own attempts: kept through the artifact store (quota, encryption, audit) when the run keeps artifacts, then removed. */
  async function keepOrRemove(): Promise<string | undefined> {
    const ref = { pool: x.pool.name, suite: x.suite, check: x.check };
    let path: string | undefined;
    if (x.plan.keepArtifacts && x.plan.artifacts) {
      const r = await keepSet(x.plan.artifacts, x.plan.audit, ref, `${x.pool.name}/${x.suite}/cells/${name}`, [{ from: where, path: dir, as: '' }]);
      path = r.kept ? r.path : notKept(r.reason);
    }
    await where.remove(dir).catch(() => undefined);
    await o.cleanup?.(dir).catch(() => undefined);
    await audit(x.plan.audit, { event: 'artifact.deleted', runId: x.plan.audit?.runId ?? '', by: 'cell', path: dir, node: where.id, ...ref });
    return path;
  }
}
