import { workloadClass, workloadClassOf, type Capability, type ClassCriuOption, type WorkloadClass } from '../config/catalogue/index.ts';
import { SELFTEST_WORKLOADS, type Settings } from '../config/schema.ts';
import { classCriuOptions } from '../criu/commands.ts';
import { Criu, describeFailure, type CriuRun } from '../criu/driver.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Cell } from '../results/schema.ts';
import { Workload } from '../workloads/protocol.ts';
import { missingCapability } from './capabilities.ts';
import { runAttempt, type AttemptMode, type Ending, type StepName, type Subject } from './attempt.ts';
import type { Attempt } from './repeat.ts';

/** The modes a process round trip has (see AttemptMode); pre-dump needs mem_dirty_track. */
export type Mode = Extract<AttemptMode, 'dump' | 'pre-dump' | 'leave-running'>;

export interface RoundTripCase {
  check: string;
  workload: string;
  /** The workload's arguments; "{dir}" is the attempt's directory (see WorkloadClass.args). */
  args: string[];
  mode: Mode;
  /** big-mem: the memory it fills (MiB). */
  sizeMiB?: number;
  /** The class's CRIU options (on dump and restore). */
  criu?: readonly ClassCriuOption[];
  /** Capabilities probed first: the cell SKIPs naming a missing one. */
  needs?: readonly Capability[];
  /** A helper process started first, outside the dumped tree (see WorkloadClass.peer). */
  peer?: { args: readonly string[] };
}

/** The catalogue's class, or a bare one for the harness's self-test fixtures. */
function classOf(name: string): WorkloadClass {
  if ((SELFTEST_WORKLOADS as readonly string[]).includes(name)) return workloadClass({ name, group: 'basic', verifies: 'the harness itself' });
  return workloadClassOf(name);
}

/** The round-trip cells of a run, from its settings and the catalogue: each class in order, then the classes' variants. */
export function planCases(settings: Pick<Settings, 'workloads' | 'bigMemMiB'>): RoundTripCase[] {
  const cases: RoundTripCase[] = [];
  const classes = settings.workloads.map(classOf);
  const base = (k: WorkloadClass) => ({ workload: k.name, criu: k.criu, needs: k.needs, ...(k.peer ? { peer: k.peer } : {}) });
  for (const k of classes) {
    if (k.sized) for (const mib of settings.bigMemMiB) cases.push({ ...base(k), check: `${k.name}/${mib}MiB`, args: [String(mib)], mode: 'dump', sizeMiB: mib });
    else cases.push({ ...base(k), check: k.name, args: [...k.args], mode: 'dump' });
  }
  for (const k of classes) for (const v of k.variants ?? []) cases.push({ ...base(k), check: `${k.name}/${v}`, args: [...k.args], mode: v });
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
  /** Extra environment for the workload (a remedy such as GLIBC_TUNABLES=glibc.pthread.rseq=0). */
  workloadEnv?: Readonly<Record<string, string>> | undefined;
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
  /** The class's peer process, outside the dumped tree. */
  private readonly peer: Workload | undefined;
  private peerNotReady = false;
  private readonly commands: string[] = [];
  private readonly options: ReturnType<typeof classCriuOptions>;
  private started = false;

  constructor(c: RoundTripCase, x: AttemptContext) {
    this.c = c;
    this.x = x;
    this.mode = c.mode;
    this.verifier = c.mode === 'leave-running' ? 'workload left running' : 'restored workload';
    const args = (a: readonly string[]) => a.map((v) => v.replaceAll('{dir}', x.dir));
    this.wl = new Workload(x.env, c.workload, x.binary, `${x.dir}/workload.out`, args(c.args), x.workloadEnv ? { ...x.workloadEnv } : undefined);
    this.wl.abortSignal = x.criu.signal = x.signal;
    if (c.peer) {
      this.peer = new Workload(x.env, `${c.workload} peer`, x.binary, `${x.dir}/peer.out`, args(c.peer.args));
      this.peer.abortSignal = x.signal;
    }
    this.options = classCriuOptions(c.criu ?? []);
  }

  private record(run: CriuRun): CriuRun {
    this.commands.push(run.argv.join(' ').replaceAll(`${this.x.dir}/`, ''));
    return run;
  }

  async gate(): Promise<Ending | undefined> {
    const missing = await missingCapability(this.c.needs ?? [], { env: this.x.env, criu: this.x.criu, commandMs: this.x.timeouts.commandMs });
    if (missing) return missing;
    if (this.mode !== 'pre-dump') return undefined;
    const probe = await this.x.criu.checkFeature('mem_dirty_track', { timeoutMs: this.x.timeouts.commandMs });
    if (probe.status === 'SKIP') return { status: 'SKIP', reason: 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)', run: probe.run };
    if (probe.status !== 'PASS') return { status: probe.status, reason: probe.reason, run: probe.run };
    return undefined;
  }

  async start(): Promise<undefined> {
    this.started = true;
    if (this.peer) {
      await this.peer.start();
      const up = await this.peer.waitReady(this.x.timeouts.readyMs);
      if (!up.ok) {
        this.peerNotReady = true;
        return undefined;
      }
    }
    await this.wl.start();
  }

  ready(timeoutMs: number) {
    if (this.peerNotReady) return Promise.resolve({ ok: false, alive: true });
    return this.wl.waitReady(timeoutMs);
  }

  notReady(alive: boolean): string {
    if (this.peerNotReady) return `the peer of ${this.c.workload} (a process outside the dumped tree) printed no "ready" within ${this.x.timeouts.readyMs} ms`;
    return alive ? `workload ${this.c.workload} printed no "ready" within ${this.x.timeouts.readyMs} ms` : `workload ${this.c.workload} exited before it was ready`;
  }

  async preDump(): Promise<CriuRun> {
    await this.x.env.makeDir(`${this.x.dir}/pre`);
    return this.record(await this.x.criu.preDump({ pid: this.wl.pid, imagesDir: `${this.x.dir}/pre`, ...log('pre-dump.log') }));
  }

  async beforeDump(): Promise<undefined> {}

  async dump(): Promise<CriuRun> {
    const o = { pid: this.wl.pid, imagesDir: `${this.x.dir}/img`, ...log('dump.log') };
    if (this.mode === 'pre-dump') return this.record(await this.x.criu.dump({ ...o, ...this.options.dump, parent: '../pre', trackMem: true }));
    return this.record(await this.x.criu.dump({ ...o, ...this.options.dump, leaveRunning: this.mode === 'leave-running' }));
  }

  async afterDump(dump: CriuRun): Promise<Ending | undefined> {
    if (this.mode === 'leave-running') return (await this.wl.alive()) ? undefined : { status: 'FAIL', reason: 'criu dump --leave-running exited 0 but the process tree is gone', run: dump };
    return (await this.wl.waitGone(2000)) ? undefined : { status: 'FAIL', reason: 'criu dump exited 0 but the process tree is still running', run: dump };
  }

  async restore(): Promise<CriuRun> {
    return this.record(await this.x.criu.restore({ detach: true, imagesDir: `${this.x.dir}/img`, ...this.options.restore, ...log('restore.log') }));
  }

  async afterRestore(): Promise<undefined> {}

  async verdict(timeoutMs: number) {
    const v = await this.wl.verdict(timeoutMs);
    if (v.status !== 'PASS' || !this.peer) return v;
    // The peer checks what it received too: its FAIL is the cell's.
    const said = (await this.peer.lines()).find((l) => /^FAIL\b/.test(l));
    return said ? { status: 'FAIL' as const, message: `its peer outside the tree: ${said.replace(/^FAIL:?\s*/, '')}` } : v;
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
    const peerLines = this.started && this.peer ? (await this.peer.lines()).map((l) => `peer: ${l}`) : [];
    const output = this.started ? [...(await this.wl.lines()), ...peerLines] : [];
    if (this.started && (ending.status !== 'PASS' || this.mode === 'leave-running')) await this.wl.kill();
    if (this.started && this.peer?.pid) await this.peer.kill();
    return { metrics: { ...(imageBytes ? { imageBytes } : {}), ...stats, ...extra }, output, commands: this.commands };
  }
}

/** The log each step writes beside its images, at debug level. */
function log(name: string) {
  return { logFile: name, verbosity: 4 } as const;
}
