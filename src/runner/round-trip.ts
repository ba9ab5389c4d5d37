import type { Settings } from '../config/schema.ts';
import { Criu, describeFailure, featureVerdict, type CriuRun } from '../criu/driver.ts';
import type { Diagnosis } from '../criu/diagnose.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Cell, Status } from '../results/schema.ts';
import { Workload } from '../workloads/protocol.ts';
import { failureStatus, type CellDraft } from './cell.ts';

/**
 * dump: dump, the tree must be gone, restore, verify.
 * pre-dump: an iterative pre-dump first (needs mem_dirty_track).
 * leave-running: dump --leave-running, the tree must still run, verify (no restore).
 */
export type Mode = 'dump' | 'pre-dump' | 'leave-running';

export interface RoundTripCase {
  check: string;
  workload: string;
  args: string[];
  mode: Mode;
  /** big-mem: the memory it fills (MiB). */
  sizeMiB?: number;
}

/** The round-trip cells of a run, from its settings. */
export function planCases(settings: Settings): RoundTripCase[] {
  const cases: RoundTripCase[] = [];
  for (const w of settings.workloads) {
    if (w === 'big-mem') for (const mib of settings.bigMemMiB) cases.push({ check: `big-mem/${mib}MiB`, workload: w, args: [String(mib)], mode: 'dump', sizeMiB: mib });
    else cases.push({ check: w, workload: w, args: [], mode: 'dump' });
  }
  if (settings.workloads.includes('counter'))
    cases.push({ check: 'counter/pre-dump', workload: 'counter', args: [], mode: 'pre-dump' }, { check: 'counter/leave-running', workload: 'counter', args: [], mode: 'leave-running' });
  return cases;
}

export interface Attempt {
  status: Status;
  reason: string;
  durations: Cell['durations'];
  metrics: Cell['metrics'];
  diagnoses: Diagnosis[];
  logExcerpt: string[];
  commands: string[];
  workloadOutput: string[];
}

export interface AttemptContext {
  env: Environment;
  criu: Criu;
  binary: string;
  /** Directory inside the environment for this attempt's images and output. */
  dir: string;
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
}

/** One round trip, start to verdict. Never throws for a tuple's failure; throws only when the harness cannot go on. */
export async function attemptRoundTrip(c: RoundTripCase, x: AttemptContext): Promise<Attempt> {
  const { env, criu, dir, timeouts: t } = x;
  const t0 = performance.now();
  await env.makeDir(`${dir}/img`);
  const wl = new Workload(env, c.workload, x.binary, `${dir}/workload.out`, c.args);
  wl.abortSignal = criu.signal = x.signal;
  const commands: string[] = [];
  const durations: Cell['durations'] = { totalMs: 0 };
  let started = false;

  const finish = async (status: Status, reason: string, run?: CriuRun, extraMetrics: Partial<Cell['metrics']> = {}): Promise<Attempt> => {
    let extra = extraMetrics;
    durations.totalMs = performance.now() - t0;
    const imageBytes = await env.du(`${dir}/img`).catch(() => undefined);
    if (c.workload === 'big-mem' && status === 'PASS' && imageBytes && durations.dumpMs) extra = { ...extra, dumpMsPerGiB: durations.dumpMs / (imageBytes / 2 ** 30) };
    const stats = await readCriuStats(env, `${dir}/img`);
    const output = started ? await wl.lines() : [];
    if (started && (status !== 'PASS' || c.mode === 'leave-running')) await wl.kill();
    return {
      status,
      reason,
      durations,
      metrics: { ...(imageBytes ? { imageBytes } : {}), ...stats, ...extra },
      diagnoses: run?.diagnoses ?? [],
      logExcerpt: run?.excerpt ?? [],
      commands,
      workloadOutput: output,
    };
  };
  const step = async (args: string[], logFile: string) => {
    const run = await criu.run(args, { logFile });
    commands.push(run.argv.join(' ').replaceAll(`${dir}/`, ''));
    return run;
  };

  if (c.mode === 'pre-dump') {
    const probe = await criu.run(['check', '--feature', 'mem_dirty_track'], { timeoutMs: t.commandMs });
    const verdict = featureVerdict('mem_dirty_track', probe, t.commandMs);
    if (verdict.status === 'SKIP') return finish('SKIP', 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)', probe);
    if (verdict.status !== 'PASS') return finish(verdict.status, verdict.reason, probe);
  }

  await wl.start();
  started = true;
  const ready = await wl.waitReady(t.readyMs);
  if (!ready.ok) return finish('ERROR', ready.alive ? `workload ${c.workload} printed no "ready" within ${t.readyMs} ms` : `workload ${c.workload} exited before it was ready`);

  if (c.mode === 'pre-dump') {
    await env.makeDir(`${dir}/pre`);
    const pre = await step(['pre-dump', '-t', String(wl.pid), '-D', `${dir}/pre`, '-o', 'pre-dump.log', '-v4'], `${dir}/pre/pre-dump.log`);
    durations.preDumpMs = pre.result.durationMs;
    if (!pre.ok) return finish(failureStatus(pre.diagnoses), describeFailure('criu pre-dump', pre, t.criuMs), pre);
  }
  const dumpArgs = ['dump', '-t', String(wl.pid), '-D', `${dir}/img`, '-o', 'dump.log', '-v4'];
  if (c.mode === 'pre-dump') dumpArgs.push('--prev-images-dir', '../pre', '--track-mem');
  if (c.mode === 'leave-running') dumpArgs.push('--leave-running');
  const dump = await step(dumpArgs, `${dir}/img/dump.log`);
  durations.dumpMs = dump.result.durationMs;
  if (!dump.ok) return finish(failureStatus(dump.diagnoses), describeFailure('criu dump', dump, t.criuMs), dump);

  let last = dump;
  if (c.mode === 'leave-running') {
    if (!(await wl.alive())) return finish('FAIL', 'criu dump --leave-running exited 0 but the process tree is gone', dump);
  } else {
    if (!(await wl.waitGone(2000))) return finish('FAIL', 'criu dump exited 0 but the process tree is still running', dump);
    const restore = await step(['restore', '-d', '-D', `${dir}/img`, '-o', 'restore.log', '-v4'], `${dir}/img/restore.log`);
    durations.restoreMs = restore.result.durationMs;
    if (!restore.ok) return finish(failureStatus(restore.diagnoses), describeFailure('criu restore', restore, t.criuMs), restore);
    last = restore;
  }

  const v0 = performance.now();
  const verdict = await wl.verdict(t.verifyMs);
  durations.verifyMs = performance.now() - v0;
  const what = c.mode === 'leave-running' ? 'workload left running' : 'restored workload';
  if (verdict.status === 'PASS') {
    const stall = /^info: max_stall_us=(\d+)$/m.exec((await wl.lines()).join('\n'));
    return finish('PASS', `${what} verified its own state`, last, stall ? { observedStallUs: Number(stall[1]) } : {});
  }
  if (verdict.status === 'FAIL') return finish('FAIL', `${what}: ${verdict.message}`, last);
  return finish('FAIL', verdict.alive ? `${what} gave no verdict within ${t.verifyMs} ms` : `${what} died without a verdict`, last);
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
