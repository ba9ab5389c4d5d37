import type { Settings } from '../config/schema.ts';
import { Criu, describeFailure, type CriuRun } from '../criu/driver.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Cell } from '../results/schema.ts';
import { Workload } from '../workloads/protocol.ts';
import { runAttempt, type AttemptMode, type Ending, type StepName, type Subject } from './attempt.ts';
import type { Attempt } from './repeat.ts';

/** The modes a process round trip has (see AttemptMode); pre-dump needs mem_dirty_track. */
export type Mode = Extract<AttemptMode, 'dump' | 'pre-dump' | 'leave-running'>;

export interface RoundTripCase {
  check: string;
  workload: string;
  args: string[];
  mode: Mode;
}

/** The round-trip cells of a run, from its settings. */
export function planCases(settings: Settings): RoundTripCase[] {
  const cases: RoundTripCase[] = [];
  for (const w of settings.workloads) {
    if (w === 'big-mem') for (const mib of settings.bigMemMiB) cases.push({ check: `big-mem/${mib}MiB`, workload: w, args: [String(mib)], mode: 'dump' });
    else cases.push({ check: w, workload: w, args: [], mode: 'dump' });
  }
  if (settings.workloads.includes('counter'))
    cases.push({ check: 'counter/pre-dump', workload: 'counter', args: [], mode: 'pre-dump' }, { check: 'counter/leave-running', workload: 'counter', args: [], mode: 'leave-running' });
  return cases;
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

/** One round trip of a process CRIU dumps and restores itself. Never throws for a tuple's failure; throws only when the harness cannot go on. */
export async function attemptRoundTrip(c: RoundTripCase, x: AttemptContext): Promise<Attempt> {
  await x.env.makeDir(`${x.dir}/img`);
  return runAttempt(new ProcessSubject(c, x), x.timeouts);
}

/** A workload process, dumped and restored by the node's criu; commands run with -v4 logs beside the images. */
class ProcessSubject implements Subject<CriuRun> {
  readonly mode: Mode;
  readonly verifier: string;
  readonly verdictShowsLastRun = true;
  private readonly c: RoundTripCase;
  private readonly x: AttemptContext;
  private readonly wl: Workload;
  private readonly commands: string[] = [];
  private started = false;

  constructor(c: RoundTripCase, x: AttemptContext) {
    this.c = c;
    this.x = x;
    this.mode = c.mode;
    this.verifier = c.mode === 'leave-running' ? 'workload left running' : 'restored workload';
    this.wl = new Workload(x.env, c.workload, x.binary, `${x.dir}/workload.out`, c.args);
    this.wl.abortSignal = x.criu.signal = x.signal;
  }

  private record(run: CriuRun): CriuRun {
    this.commands.push(run.argv.join(' ').replaceAll(`${this.x.dir}/`, ''));
    return run;
  }

  async gate(): Promise<Ending | undefined> {
    if (this.mode !== 'pre-dump') return undefined;
    const probe = await this.x.criu.checkFeature('mem_dirty_track', { timeoutMs: this.x.timeouts.commandMs });
    if (probe.status === 'SKIP') return { status: 'SKIP', reason: 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)', run: probe.run };
    if (probe.status !== 'PASS') return { status: probe.status, reason: probe.reason, run: probe.run };
    return undefined;
  }

  async start(): Promise<undefined> {
    await this.wl.start();
    this.started = true;
  }

  ready(timeoutMs: number) {
    return this.wl.waitReady(timeoutMs);
  }

  notReady(alive: boolean): string {
    return alive ? `workload ${this.c.workload} printed no "ready" within ${this.x.timeouts.readyMs} ms` : `workload ${this.c.workload} exited before it was ready`;
  }

  async preDump(): Promise<CriuRun> {
    await this.x.env.makeDir(`${this.x.dir}/pre`);
    return this.record(await this.x.criu.preDump({ pid: this.wl.pid, imagesDir: `${this.x.dir}/pre`, ...log('pre-dump.log') }));
  }

  async beforeDump(): Promise<undefined> {}

  async dump(): Promise<CriuRun> {
    const o = { pid: this.wl.pid, imagesDir: `${this.x.dir}/img`, ...log('dump.log') };
    if (this.mode === 'pre-dump') return this.record(await this.x.criu.dump({ ...o, parent: '../pre', trackMem: true }));
    return this.record(await this.x.criu.dump({ ...o, leaveRunning: this.mode === 'leave-running' }));
  }

  async afterDump(dump: CriuRun): Promise<Ending | undefined> {
    if (this.mode === 'leave-running') return (await this.wl.alive()) ? undefined : { status: 'FAIL', reason: 'criu dump --leave-running exited 0 but the process tree is gone', run: dump };
    return (await this.wl.waitGone(2000)) ? undefined : { status: 'FAIL', reason: 'criu dump exited 0 but the process tree is still running', run: dump };
  }

  async restore(): Promise<CriuRun> {
    return this.record(await this.x.criu.restore({ detach: true, imagesDir: `${this.x.dir}/img`, ...log('restore.log') }));
  }

  async afterRestore(): Promise<undefined> {}

  verdict(timeoutMs: number) {
    return this.wl.verdict(timeoutMs);
  }

  async passed() {
    const stall = /^info: max_stall_us=(\d+)$/m.exec((await this.wl.lines()).join('\n'));
    return stall ? { metrics: { observedStallUs: Number(stall[1]) } } : {};
  }

  failure(step: StepName, run: CriuRun): string {
    return describeFailure(`criu ${step}`, run, this.x.timeouts.criuMs);
  }

  async collect(ending: Ending, durations: Cell['durations']) {
    const { env, dir } = this.x;
    let extra = ending.metrics ?? {};
    const imageBytes = await env.du(`${dir}/img`).catch(() => undefined);
    if (this.c.workload === 'big-mem' && ending.status === 'PASS' && imageBytes && durations.dumpMs) extra = { ...extra, dumpMsPerGiB: durations.dumpMs / (imageBytes / 2 ** 30) };
    const stats = await readCriuStats(env, `${dir}/img`);
    const output = this.started ? await this.wl.lines() : [];
    if (this.started && (ending.status !== 'PASS' || this.mode === 'leave-running')) await this.wl.kill();
    return { metrics: { ...(imageBytes ? { imageBytes } : {}), ...stats, ...extra }, output, commands: this.commands };
  }
}

/** The log each step writes beside its images, at debug level. */
function log(name: string) {
  return { logFile: name, verbosity: 4 } as const;
}
