import { constants } from 'node:os';
import { execa } from 'execa';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** Set when the command was killed by a signal (SIGSEGV, SIGKILL…) rather than exiting; exitCode is then 128 + its number. */
  signal?: string;
}

export interface RunOptions {
  timeoutMs: number;
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Aborting kills the command's whole process group at once. */
  signal?: AbortSignal | undefined;
  /**
   * Stop with SIGTERM to the command itself first, and SIGKILL its group only
   * if it is still there after this many ms. For commands that must reap what
   * they started before they go (cc-ns exec).
   */
  graceMs?: number;
}

/**
 * Runs a host command to completion. It gets its own process group, and on
 * timeout the whole group is killed, so nothing it started outlives it.
 * Never throws for a non-zero exit; a command that cannot start gives 127.
 */
export async function run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('run: empty argv');
  const started = performance.now();
  let timedOut = false;
  const child = execa(file, args, {
    reject: false,
    detached: true,
    cleanup: true,
    stripFinalNewline: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    env: opts.env,
    extendEnv: opts.env === undefined,
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  let hard: NodeJS.Timeout | undefined;
  const stop = () => {
    if (opts.graceMs === undefined) return killGroup(child.pid);
    try {
      if (child.pid) process.kill(child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    hard ??= setTimeout(() => killGroup(child.pid), opts.graceMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, opts.timeoutMs);
  const onAbort = stop;
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  try {
    const r = await child;
    const code = typeof r.exitCode === 'number' ? r.exitCode : r.signal ? 128 + signalNumber(r.signal) : 127;
    return {
      exitCode: r.failed && r.exitCode === undefined && !r.signal ? 127 : code,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? '') + (r.failed && r.exitCode === undefined && !r.signal ? String(r.shortMessage ?? '') : ''),
      timedOut,
      durationMs: performance.now() - started,
      ...(r.signal ? { signal: r.signal } : {}),
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(hard);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

export function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function signalNumber(name: string): number {
  return (constants.signals as Record<string, number>)[name] ?? 0;
}

/** SIGSEGV for 11; undefined for 0 or a number this platform does not name. */
export function signalName(n: number): string | undefined {
  if (!n) return undefined;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}
