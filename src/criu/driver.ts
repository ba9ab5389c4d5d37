import type { Environment, ExecResult } from '../environments/environment.ts';
import { checkArgs, checkFeatureArgs, dumpArgs, lazyPagesArgs, pageServerArgs, preDumpArgs, restoreArgs } from './commands.ts';
import type { DumpOptions, ImageOptions, LazyPagesOptions, PageServerOptions, PreDumpOptions, RestoreOptions } from './commands.ts';
import { diagnose, failureStatus, logExcerpt, stageOfCriu, withUndiagnosed, type DiagnoseInput, type Diagnosis } from './diagnose.ts';
import { parseCriuVersion } from './help.ts';
import type { Status } from '../results/schema.ts';

export interface CriuRun {
  argv: string[];
  result: ExecResult;
  /** CRIU's log (if it wrote one) followed by its stdout and stderr. */
  text: string;
  diagnoses: Diagnosis[];
  excerpt: string[];
  ok: boolean;
  /** Stopped early: CRIU sat in a known hang (see HANG_STATES) with no log progress. */
  hung?: string;
  /** CRIU was killed by this signal (SIGSEGV…) on its own: it crashed, we did not stop it. */
  killedBy?: string;
}

/**
 * Places in CRIU's log where, once it stops there, it never moves again. A
 * run whose log ends on one of these and does not grow for HANG_QUIET_MS is
 * stopped at once instead of waiting for the whole timeout.
 */
const HANG_STATES: { re: RegExp; what: string }[] = [
  // After curing the parasite CRIU waits for a debug-register trap that never comes.
  { re: /new_sp=0x[0-9a-f]+ ip 0x[0-9a-f]+\s*$/, what: 'waiting for a hardware-breakpoint trap after removing the parasite' },
];
const HANG_QUIET_MS = 3000;

export interface RunOptions {
  /** CRIU's log inside the environment, read back for diagnosis (and watched for hangs). */
  logFile?: string;
  timeoutMs?: number;
  /** A migration: the source's and destination's CPUs (the pools' inventories), for the diagnosis. */
  cpu?: DiagnoseInput['cpu'];
  /** Runs criu under this command (e.g. a sandbox: `unshare --net --mount -- sh -c …`); it must exec its arguments. */
  prefix?: readonly string[];
}

/** Drives the node image's own criu inside an environment. */
export class Criu {
  private readonly env: Environment;
  private readonly criuEnv: Record<string, string>;
  private readonly timeoutMs: number;
  /** Cancels every command this driver runs (the test's signal). */
  signal: AbortSignal | undefined;
  /** What the pool's own probe found: do debug-register breakpoints reach a ptracer here (null: unknown)? */
  private readonly hwBreakpoints: boolean | null;
  /** A remedy's CRIU options, appended to every dump, pre-dump and restore (see withRemedy). */
  private readonly extraOptions: readonly string[];
  constructor(env: Environment, criuEnv: Record<string, string>, timeoutMs: number, probed: { hwBreakpoints?: boolean | null } = {}, extraOptions: readonly string[] = []) {
    this.env = env;
    this.criuEnv = criuEnv;
    this.timeoutMs = timeoutMs;
    this.hwBreakpoints = probed.hwBreakpoints ?? null;
    this.extraOptions = extraOptions;
  }

  /** A driver with the same node, settings and timeout, for a command that runs while others go on (cancelled by SIGNAL alone). */
  alongside(signal: AbortSignal, timeoutMs = this.timeoutMs): Criu {
    const c = new Criu(this.env, this.criuEnv, timeoutMs, { hwBreakpoints: this.hwBreakpoints }, this.extraOptions);
    c.signal = signal;
    return c;
  }

  /**
   * The same driver with a remedy applied: ENV added to CRIU's environment
   * (CRIU_FAULT=130), OPTIONS appended to every dump, pre-dump and restore
   * (--network-lock=nftables: CRIU reads its options the same for every
   * command). The pool's own settings stay.
   */
  withRemedy(env: Readonly<Record<string, string>>, options: readonly string[] = []): Criu {
    const c = new Criu(this.env, { ...this.criuEnv, ...env }, this.timeoutMs, { hwBreakpoints: this.hwBreakpoints }, [...this.extraOptions, ...options]);
    c.signal = this.signal;
    return c;
  }

  /** Runs criu with args; logFile (inside the environment) is read back for diagnosis. */
  async run(args: string[], opts: RunOptions = {}): Promise<CriuRun> {
    const argv = [...(opts.prefix ?? []), 'criu', ...args];
    const stop = new AbortController();
    const signal = this.signal ? AbortSignal.any([this.signal, stop.signal]) : stop.signal;
    let hung: string | undefined;
    // Where the probe saw breakpoints work, a rest at the breakpoint wait is slowness, not the known hang: let the timeout decide.
    const watch = opts.logFile && this.hwBreakpoints !== true ? this.watchForHang(opts.logFile, stop.signal, (what) => ((hung = what), stop.abort())) : undefined;
    const result = await this.env.exec(argv, { timeoutMs: opts.timeoutMs ?? this.timeoutMs, env: this.criuEnv, signal });
    // A signal death after the hang watcher stopped CRIU is our kill, not a crash.
    const weStopped = stop.signal.aborted;
    stop.abort();
    await watch;
    this.signal?.throwIfAborted();
    if (hung) result.timedOut = true;
    let log = '';
    if (opts.logFile) log = boundedLog(await this.env.readFile(opts.logFile).catch(() => Buffer.alloc(0)));
    const text = [log, result.stdout, result.stderr].filter(Boolean).join('\n');
    const killedBy = result.signal && !result.timedOut && !weStopped ? result.signal : undefined;
    const stage = stageOfCriu(args);
    const found = diagnose({ text, stage, timedOut: result.timedOut, hwBreakpoints: this.hwBreakpoints, exitCode: result.exitCode, ...(killedBy ? { signal: killedBy } : {}), ...(opts.cpu ? { cpu: opts.cpu } : {}) });
    const ok = result.exitCode === 0 && !result.timedOut && !killedBy;
    const diagnoses = ok ? found : withUndiagnosed(found, { text, stage, reason: result.timedOut ? `timed out after ${opts.timeoutMs ?? this.timeoutMs} ms` : `exit ${result.exitCode}` });
    return {
      argv,
      result,
      text,
      diagnoses,
      excerpt: logExcerpt(text),
      ok,
      ...(hung ? { hung } : {}),
      ...(killedBy ? { killedBy } : {}),
    };
  }

  /** Polls CRIU's log while it runs; calls onHang when it rests in a known hang state. */
  private async watchForHang(logFile: string, done: AbortSignal, onHang: (what: string) => void): Promise<void> {
    let size = -1;
    let since = performance.now();
    while (!done.aborted) {
      // Sleep 250 ms, or less if the command ends first.
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 250);
        done.addEventListener('abort', () => (clearTimeout(timer), r()), { once: true });
      });
      if (done.aborted) return;
      const buf = await this.env.readFile(logFile).catch(() => undefined);
      if (!buf) continue;
      if (buf.length !== size) {
        size = buf.length;
        since = performance.now();
        continue;
      }
      if (performance.now() - since < HANG_QUIET_MS) continue;
      const tail = buf.subarray(Math.max(0, buf.length - 400)).toString('utf8').trimEnd();
      const state = HANG_STATES.find((h) => h.re.test(tail));
      if (state) return onHang(state.what);
    }
  }

  /** `criu dump`; its log (in the image directory) is watched for hangs and read back. */
  dump(o: DumpOptions, opts: { timeoutMs?: number } = {}): Promise<CriuRun> {
    return this.run([...dumpArgs(o), ...this.extraOptions], { ...opts, ...logOf(o) });
  }

  preDump(o: PreDumpOptions, opts: { timeoutMs?: number } = {}): Promise<CriuRun> {
    return this.run([...preDumpArgs(o), ...this.extraOptions], { ...opts, ...logOf(o) });
  }

  /** A migration's restore passes the two nodes' CPUs (opts.cpu) so a CPU diagnosis can name what the destination lacks. */
  restore(o: RestoreOptions, opts: { timeoutMs?: number; cpu?: DiagnoseInput['cpu']; prefix?: readonly string[] } = {}): Promise<CriuRun> {
    return this.run([...restoreArgs(o), ...this.extraOptions], { ...opts, ...logOf(o) });
  }

  /** `criu check [--all]`. */
  check(o: { all?: boolean } = {}): Promise<CriuRun> {
    return this.run(checkArgs(o));
  }

  /** `criu check --feature NAME`, with what it decided (see featureVerdict). */
  async checkFeature(feature: string, opts: { timeoutMs?: number } = {}): Promise<FeatureCheck> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const run = await this.run(checkFeatureArgs(feature), { timeoutMs });
    return { run, ...featureVerdict(feature, run, timeoutMs) };
  }

  /** `criu page-server`: runs until the dump it serves has sent its pages (or, with daemon, until it listens). */
  pageServer(o: PageServerOptions, opts: { timeoutMs?: number } = {}): Promise<CriuRun> {
    return this.run(pageServerArgs(o), { ...opts, ...logOf(o) });
  }

  /** `criu lazy-pages`: runs until the lazy restore it feeds has all its memory. */
  lazyPages(o: LazyPagesOptions, opts: { timeoutMs?: number } = {}): Promise<CriuRun> {
    return this.run(lazyPagesArgs(o), { ...opts, ...(o.imagesDir ? logOf({ ...o, imagesDir: o.imagesDir }) : {}) });
  }

  async version(): Promise<{ version?: string; run: CriuRun }> {
    const run = await this.run(['--version']);
    const version = parseCriuVersion(run.result.stdout);
    return version ? { version, run } : { run };
  }

  /** CRIU caches kernel feature detection in /run/criu.kdat; drop it so each probe sees this kernel afresh. */
  async clearKdatCache(): Promise<void> {
    await this.env.exec(['rm', '-f', '/run/criu.kdat'], { timeoutMs: this.timeoutMs });
  }
}

/** A log CRIU wrote in a loop can reach gigabytes: keep its head and its tail (where the errors are), never the whole. */
export function boundedLog(buf: Buffer, head = 2 << 20, tail = 8 << 20): string {
  if (buf.length <= head + tail) return buf.toString('utf8');
  return `${buf.subarray(0, head).toString('utf8')}\n… (${buf.length - head - tail} bytes of the log left out) …\n${buf.subarray(buf.length - tail).toString('utf8')}`;
}

/** A feature probe: the run and its verdict. */
export interface FeatureCheck {
  run: CriuRun;
  status: Status;
  reason: string;
}

/** Where CRIU writes a command's log: a relative -o goes into the image directory. */
function logOf(o: ImageOptions): { logFile?: string } {
  if (!o.logFile) return {};
  return { logFile: o.logFile.startsWith('/') ? o.logFile : `${o.imagesDir}/${o.logFile}` };
}

/**
 * What `criu check --feature NAME` said. A capability is missing (SKIP) only
 * when CRIU answered so itself: it exited normally with status 1, the status
 * its check command gives for a failed check (after printing why, when the
 * check has a message). CRIU that cannot start on this kernel (a fatal
 * signature) is the tuple's failure; a probe that crashed, hung, timed out or
 * exited any other way decided nothing: ERROR, saying what happened.
 */
export function featureVerdict(feature: string, r: CriuRun, timeoutMs: number): { status: Status; reason: string } {
  const what = `criu check --feature ${feature}`;
  if (r.ok) return { status: 'PASS', reason: `${feature} is supported` };
  if (r.killedBy || r.result.timedOut) return { status: 'ERROR', reason: describeFailure(what, r, timeoutMs) };
  if (r.diagnoses.some((d) => d.fatal || d.blame === 'environment')) return { status: failureStatus(r.diagnoses), reason: describeFailure(what, r, timeoutMs) };
  if (/Unknown feature/.test(r.text)) return { status: 'ERROR', reason: `${what}: this CRIU does not know the feature (${firstLine(r.text)})` };
  if (r.result.exitCode !== 1)
    return { status: 'ERROR', reason: `${what} exited ${r.result.exitCode}, not CRIU's answer for a missing feature (exit 1)${r.result.exitCode === 127 ? ': no criu in this node image' : ''}` };
  const said = r.excerpt.filter((l) => !/RLIMIT_NOFILE/.test(l)).map((l) => l.replace(/^(Warn|Error)\s*\([^)]*\):\s*/, '').trim());
  return { status: 'SKIP', reason: `capability missing: ${feature}${said.length ? ` (${said.join('; ')})` : ''}` };
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim())?.trim().slice(0, 200) ?? '';
}

/** Describes a failed CRIU command in one line. */
export function describeFailure(what: string, r: CriuRun, timeoutMs: number): string {
  const cause = r.diagnoses.find((d) => d.blame !== 'note' && d.id !== 'criu-crashed');
  const head = r.hung
    ? `${what} hung (${r.hung}; no progress for ${HANG_QUIET_MS / 1000} s)`
    : r.result.timedOut
      ? `${what} timed out after ${Math.round(timeoutMs / 1000)} s`
      : r.killedBy
        ? `${what} failed: criu killed by ${r.killedBy}`
        : `${what} failed (exit ${r.result.exitCode})`;
  if (r.killedBy) return head; // what it printed before it died is not why it died
  if (cause) return `${head}: ${cause.title}`;
  const firstError = r.excerpt.find((l) => /Error|error/.test(l) && !/RLIMIT_NOFILE/.test(l));
  return firstError ? `${head}: ${firstError.replace(/^\(\d+\.\d+\)\s*/, '')}` : head;
}
