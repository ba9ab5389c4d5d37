import type { Settings } from '../config/schema.ts';
import type { Diagnosis } from '../criu/diagnose.ts';
import type { Cell, Status } from '../results/schema.ts';
import type { Verdict } from '../workloads/protocol.ts';
import { diagnoseVerdict, failureStatus } from '../criu/diagnose.ts';
import type { Attempt } from './repeat.ts';
import { Timeline, runEnding } from './timeline.ts';

/**
 * run: start and verify, nothing else (can the workload run there at all?).
 * dump: dump, the workload must be gone, restore, verify.
 * pre-dump: a pre-dump first, then the final dump on top of it, restore, verify.
 * leave-running: dump leaving it running, it must still run, verify (no restore).
 * migrate: dump to something that travels, restore on another node, verify there.
 */
export type AttemptMode = 'run' | 'dump' | 'pre-dump' | 'leave-running' | 'migrate';

/** What a step's command left: enough to judge it and to show why it failed. */
export interface StepRun {
  ok: boolean;
  result: { durationMs: number };
  diagnoses: Diagnosis[];
  excerpt: string[];
}

/** How an attempt ended, and the command whose output explains it. */
export interface Ending {
  status: Status;
  reason: string;
  run?: StepRun | undefined;
  /** Diagnoses of the ending itself (a workload's FAIL line), before those of its run. */
  diagnoses?: Diagnosis[];
  metrics?: Partial<Cell['metrics']>;
}

export type StepName = 'start' | 'pre-dump' | 'dump' | 'restore';

/**
 * The parts of an attempt that differ between a process CRIU dumps itself
 * and a container its runtime checkpoints. Each step that ends the attempt
 * early returns an Ending; undefined goes on.
 */
export interface Subject<R extends StepRun = StepRun> {
  readonly mode: AttemptMode;
  /** What the verdict is about: "restored workload", "container left running", … */
  readonly verifier: string;
  /** Does a verdict's ending carry the last command's diagnoses and log? */
  readonly verdictShowsLastRun: boolean;
  /** The capabilities the mode needs, before anything starts. */
  gate(): Promise<Ending | undefined>;
  /** Starts the workload: a run to record (and judge), or nothing to record. */
  start(): Promise<R | undefined>;
  ready(timeoutMs: number): Promise<{ ok: boolean; alive: boolean }>;
  notReady(alive: boolean): string;
  preDump(): Promise<R>;
  /** Before the final dump (a migration changes the root filesystem first). */
  beforeDump(): Promise<Ending | undefined>;
  dump(): Promise<R>;
  /** After a dump that succeeded: gone (or still running with leave-running); a migration moves on. */
  afterDump(dump: R): Promise<Ending | undefined>;
  restore(): Promise<R>;
  afterRestore(restore: R): Promise<Ending | undefined>;
  verdict(timeoutMs: number): Promise<Verdict | { status: 'NONE'; alive: boolean }>;
  /** The reason's tail and figures of a verified attempt. */
  passed(): Promise<{ note?: string; metrics?: Partial<Cell['metrics']> }>;
  /** One line for a step that failed. */
  failure(step: StepName, run: R): string;
  /** Once the ending is known: figures (the ending's among them), the workload's output, and whatever is left stopped. */
  collect(ending: Ending, durations: Cell['durations']): Promise<{ metrics: Cell['metrics']; output: string[]; commands: string[] }>;
}

/**
 * One attempt, start to verdict: start → ready → (pre-dump) → dump → restore
 * → verify, each step timed and able to end it. Never throws for a tuple's
 * failure; throws only when the harness cannot go on.
 */
export async function runAttempt<R extends StepRun>(s: Subject<R>, t: Settings['timeouts']): Promise<Attempt> {
  const t0 = performance.now();
  const tl = new Timeline(t0);
  const durations: Cell['durations'] = { totalMs: 0 };
  let ending: Ending;
  try {
    ending = await steps(s, t, durations, tl);
  } catch (e) {
    // The harness cannot go on: still stop what the attempt started (workload, container) before saying so.
    await s.collect({ status: 'ERROR', reason: `harness: ${(e as Error).message}` }, durations).catch(() => undefined);
    throw e;
  }
  durations.totalMs = performance.now() - t0;
  tl.mark(`verdict ${ending.status}`);
  const { metrics, output, commands } = await tl.around('cleanup', () => s.collect(ending, durations));
  return {
    timeline: tl.events,
    status: ending.status,
    reason: ending.reason,
    durations,
    metrics,
    diagnoses: [...(ending.diagnoses ?? []), ...(ending.run?.diagnoses ?? [])],
    logExcerpt: ending.run?.excerpt ?? [],
    commands,
    workloadOutput: output,
  };
}

/** Ends an attempt before its verdict; thrown by a step, caught by steps(). */
class AttemptEnded extends Error {
  readonly ending: Ending;
  constructor(ending: Ending) {
    super(ending.reason);
    this.ending = ending;
  }
}

async function steps<R extends StepRun>(s: Subject<R>, t: Settings['timeouts'], durations: Cell['durations'], tl: Timeline): Promise<Ending> {
  try {
    return await flow(s, t, durations, tl);
  } catch (e) {
    if (e instanceof AttemptEnded) return e.ending;
    throw e;
  }
}

type StepDuration = 'startMs' | 'preDumpMs' | 'dumpMs' | 'restoreMs';

async function flow<R extends StepRun>(s: Subject<R>, t: Settings['timeouts'], durations: Cell['durations'], tl: Timeline): Promise<Ending> {
  const stop = (ending: Ending | undefined) => {
    if (ending) throw new AttemptEnded(ending);
  };
  /** Records a step's duration; a step that failed ends the attempt with its one line and log. */
  const timed = (step: StepName, key: StepDuration, run: R): R => {
    durations[key] = run.result.durationMs;
    if (!run.ok) stop({ status: failureStatus(run.diagnoses), reason: s.failure(step, run), run });
    return run;
  };
  const ended = (r: R | undefined) => (r ? runEnding(r) : undefined);
  stop(await tl.around('gate', () => s.gate(), (e) => e && `${e.status}`));
  const started = await tl.around('start', () => s.start(), ended, ['starting', 'started']);
  if (started) timed('start', 'startMs', started);
  const ready = await s.ready(t.readyMs);
  tl.mark(ready.ok ? 'ready' : ready.alive ? 'not ready' : 'exited before ready');
  if (!ready.ok) return { status: 'ERROR', reason: s.notReady(ready.alive) };

  let last: R | undefined;
  if (s.mode !== 'run') {
    if (s.mode === 'pre-dump') timed('pre-dump', 'preDumpMs', await tl.around('pre-dump', () => s.preDump(), ended));
    stop(await s.beforeDump());
    last = timed('dump', 'dumpMs', await tl.around('dump', () => s.dump(), ended));
    stop(await s.afterDump(last));
    if (s.mode !== 'leave-running') {
      last = timed('restore', 'restoreMs', await tl.around('restore', () => s.restore(), ended));
      stop(await s.afterRestore(last));
    }
  }

  const v0 = performance.now();
  const verdict = await tl.around('verify', () => s.verdict(t.verifyMs), (v) => v.status);
  durations.verifyMs = performance.now() - v0;
  const run = s.verdictShowsLastRun ? last : undefined;
  if (verdict.status === 'PASS') {
    const { note, metrics } = await s.passed();
    return { status: 'PASS', reason: `${s.verifier} verified its own state${note ? ` (${note})` : ''}`, run, ...(metrics ? { metrics } : {}) };
  }
  if (verdict.status === 'FAIL') {
    const known = diagnoseVerdict(verdict.message);
    return { status: 'FAIL', reason: `${s.verifier}: ${verdict.message}`, run, ...(known.length ? { diagnoses: known } : {}) };
  }
  return { status: 'FAIL', reason: verdict.alive ? `${s.verifier} gave no verdict within ${t.verifyMs} ms` : `${s.verifier} died without a verdict`, run };
}
