import type { Environment, ExecResult } from '../environments/environment.ts';
import { diagnose, logExcerpt, type Diagnosis } from './diagnose.ts';
import { parseCriuVersion, parseFeatureList } from './help.ts';

export interface CriuRun {
  argv: string[];
  result: ExecResult;
  /** CRIU's log (if it wrote one) followed by its stdout and stderr. */
  text: string;
  diagnoses: Diagnosis[];
  excerpt: string[];
  ok: boolean;
}

/** Drives the node image's own criu inside an environment. */
export class Criu {
  private readonly env: Environment;
  private readonly criuEnv: Record<string, string>;
  private readonly timeoutMs: number;
  /** Cancels every command this driver runs (the test's signal). */
  signal: AbortSignal | undefined;
  constructor(env: Environment, criuEnv: Record<string, string>, timeoutMs: number) {
    this.env = env;
    this.criuEnv = criuEnv;
    this.timeoutMs = timeoutMs;
  }

  /** Runs criu with args; logFile (inside the environment) is read back for diagnosis. */
  async run(args: string[], opts: { logFile?: string; timeoutMs?: number; operation?: string } = {}): Promise<CriuRun> {
    const argv = ['criu', ...args];
    const result = await this.env.exec(argv, { timeoutMs: opts.timeoutMs ?? this.timeoutMs, env: this.criuEnv, signal: this.signal });
    this.signal?.throwIfAborted();
    let log = '';
    if (opts.logFile) log = (await this.env.readFile(opts.logFile).catch(() => Buffer.alloc(0))).toString('utf8');
    const text = [log, result.stdout, result.stderr].filter(Boolean).join('\n');
    const diagnoses = diagnose({ text, timedOut: result.timedOut, ...(opts.operation ? { operation: opts.operation } : {}) });
    return { argv, result, text, diagnoses, excerpt: logExcerpt(text), ok: result.exitCode === 0 && !result.timedOut };
  }

  async version(): Promise<{ version?: string; run: CriuRun }> {
    const run = await this.run(['--version']);
    const version = parseCriuVersion(run.result.stdout);
    return version ? { version, run } : { run };
  }

  async features(): Promise<string[]> {
    const r = await this.env.exec(['criu', '--help'], { timeoutMs: this.timeoutMs, env: this.criuEnv });
    return parseFeatureList(r.stdout + r.stderr);
  }

  /** CRIU caches kernel feature detection in /run/criu.kdat; drop it so each probe sees this kernel afresh. */
  async clearKdatCache(): Promise<void> {
    await this.env.exec(['rm', '-f', '/run/criu.kdat'], { timeoutMs: this.timeoutMs });
  }
}

/**
 * A feature probe that exited non-zero: the feature is missing (SKIP), unless
 * CRIU itself cannot run (a fatal signature) or hung — then the tuple is broken.
 */
export function probeBroken(r: CriuRun): boolean {
  return r.result.timedOut || r.diagnoses.some((d) => d.fatal || d.blame === 'environment');
}

/** Describes a failed CRIU command in one line. */
export function describeFailure(what: string, r: CriuRun, timeoutMs: number): string {
  const cause = r.diagnoses.find((d) => d.blame !== 'note');
  const head = r.result.timedOut ? `${what} timed out after ${Math.round(timeoutMs / 1000)} s` : `${what} failed (exit ${r.result.exitCode})`;
  if (cause) return `${head}: ${cause.title}`;
  const firstError = r.excerpt.find((l) => /Error|error/.test(l) && !/RLIMIT_NOFILE/.test(l));
  return firstError ? `${head}: ${firstError.replace(/^\(\d+\.\d+\)\s*/, '')}` : head;
}
