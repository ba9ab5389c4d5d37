import type { Environment } from '../environments/environment.ts';
import type { Diagnosis } from '../criu/diagnose.ts';
import type { Cell, Status } from '../results/schema.ts';
import type { CellDraft } from './cell.ts';
import type { PlannedPool, RunPlan } from '../plan/plan.ts';
import { audit } from '../artifacts/audit.ts';
import { keepSet, notKept } from '../artifacts/store.ts';

/** One attempt's outcome, as a cell would show it. */
export interface Attempt {
  status: Status;
  reason: string;
  durations: Cell['durations'];
  metrics: Cell['metrics'];
  diagnoses: Diagnosis[];
  logExcerpt: string[];
  commands: string[];
  workloadOutput: string[];
  /** Migrations: the fallback tried after a failed restore on the destination. */
  fallback?: Cell['fallback'];
  /** The attempt's steps in time (see Timeline). */
  timeline?: Cell['timeline'];
}

/** Nearest-rank percentile of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Every numeric figure of an attempt, flattened: dumpMs, imageBytes, criuDump.frozenTimeUs, … */
function figures(a: Attempt): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(a.durations)) if (typeof v === 'number') out[k] = v;
  for (const [k, v] of Object.entries(a.metrics)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'number') out[`${k}.${k2}`] = v2;
  }
  return out;
}

/**
 * One cell from N attempts: ERROR if the harness broke in any, FAIL if any
 * failed (the success rate says how often), PASS only if all passed. The
 * cell shows the first bad attempt (else the last); with N > 1 it also
 * carries the success rate and p50/p95/max of every figure over all attempts.
 */
export function aggregate(attempts: readonly Attempt[]): CellDraft {
  const n = attempts.length;
  const ok = attempts.filter((a) => a.status === 'PASS').length;
  const bad = attempts.find((a) => a.status === 'ERROR') ?? attempts.find((a) => a.status === 'FAIL') ?? attempts.find((a) => a.status === 'SKIP');
  const shown = bad ?? attempts[n - 1]!;
  const status: Status = attempts.some((a) => a.status === 'ERROR') ? 'ERROR' : attempts.some((a) => a.status === 'FAIL') ? 'FAIL' : attempts.some((a) => a.status === 'SKIP') ? 'SKIP' : 'PASS';
  let reason = shown.reason;
  if (n > 1 && status === 'PASS') reason = `${reason} in ${n}/${n} attempts`;
  if (n > 1 && status === 'FAIL') reason = `${n - ok}/${n} attempts failed; first: ${shown.reason}`;
  const draft: CellDraft = {
    status,
    reason,
    durations: shown.durations,
    metrics: shown.metrics,
    diagnoses: shown.diagnoses,
    logExcerpt: shown.logExcerpt,
    commands: shown.commands,
    workloadOutput: shown.workloadOutput,
    ...(shown.fallback ? { fallback: shown.fallback } : {}),
    ...(shown.timeline ? { timeline: shown.timeline } : {}),
  };
  if (n > 1) {
    const all = attempts.map(figures);
    const names = [...new Set(all.flatMap((f) => Object.keys(f)))].sort();
    draft.repetitions = { attempts: n, successes: ok, successRate: ok / n };
    draft.distribution = Object.fromEntries(
      names.map((k) => {
        const xs = all.map((f) => f[k]).filter((v): v is number => v !== undefined);
        return [k, { n: xs.length, p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) }];
      }),
    );
  }
  return draft;
}

/** Where a cell's attempts run and what to do with what they leave. */
export interface RepeatContext {
  plan: Pick<RunPlan, 'keepArtifacts' | 'artifacts' | 'audit'> & { settings: Pick<RunPlan['settings'], 'repeat'> & Partial<Pick<RunPlan['settings'], 'remedies' | 'remedyReruns'>> };
  pool: Pick<PlannedPool, 'name'>;
  suite: string;
  check: string;
  /** The environment the attempts' directories live in. */
  env: Environment;
}

/**
 * Runs a cell's attempts (settings.repeat of them, each in its own
 * directory when more than one) and folds them into one cell. A SKIP or
 * ERROR stops the repetition: a missing capability or a broken harness
 * will not change. Directories go away after each attempt; when the run
 * keeps artifacts, only after the cell's directory was kept (keepSet: quota,
 * encryption). cleanup removes what an attempt left elsewhere (another
 * node). Each removal is an audit line.
 */
export async function repeatCell(x: RepeatContext, attempt: (dir: string, i: number) => Promise<Attempt>, cleanup?: (dir: string) => Promise<void>): Promise<CellDraft> {
  const name = x.check.replace(/\//g, '_');
  const cellDir = `${x.env.workDir}/cells/${name}`;
  const n = x.plan.settings.repeat;
  const ref = { pool: x.pool.name, suite: x.suite, check: x.check };
  const dirs: string[] = [];
  const removeAttempt = async (dir: string) => {
    await x.env.remove(dir);
    await cleanup?.(dir);
    await audit(x.plan.audit, { event: 'artifact.deleted', runId: x.plan.audit?.runId ?? '', by: 'cell', path: dir, node: x.env.id, ...ref });
  };
  const attempts: Attempt[] = [];
  for (let i = 1; i <= n; i++) {
    const dir = n > 1 ? `${cellDir}/${i}` : cellDir;
    dirs.push(dir);
    const a = await attempt(dir, i);
    attempts.push(a);
    if (!x.plan.keepArtifacts) await removeAttempt(dir);
    if (a.status === 'SKIP' || a.status === 'ERROR') break;
  }
  const draft = aggregate(attempts);
  if (x.plan.keepArtifacts) {
    if (!x.plan.artifacts) throw new Error('harness: the plan keeps artifacts but has no artifacts policy');
    const r = await keepSet(x.plan.artifacts, x.plan.audit, ref, `${x.pool.name}/${x.suite}/cells/${name}`, [{ from: x.env, path: cellDir, as: '' }]);
    draft.artifacts = r.kept ? r.path : notKept(r.reason);
    for (const dir of dirs) await removeAttempt(dir);
  }
  return draft;
}
