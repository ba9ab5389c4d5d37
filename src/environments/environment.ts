import type { NodeLink } from './network/node-link.ts';
import type { SinkFactory } from '../artifacts/store.ts';

/**
 * The one interface every backend implements. Suites only ever talk to an
 * Environment, so a namespace, a VM or a pod look the same to them.
 */
export interface ExecOptions {
  /** Hard limit; the command and everything it started are killed after it. */
  timeoutMs: number;
  /** The complete environment (nothing leaks in from the harness). */
  env?: Record<string, string>;
  cwd?: string;
  /** Cancellation (Ctrl-C, a test's own timeout): the command is killed at once. */
  signal?: AbortSignal | undefined;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** The command was killed by this signal (SIGSEGV…) instead of exiting; exitCode is then 128 + its number. */
  signal?: string;
}

export interface Environment {
  readonly id: string;
  readonly backend: string;
  /** Where the shared work directory appears inside the environment. */
  readonly workDir: string;
  /**
   * Its interface on the run's node network (a bridge on the host), when a
   * suite of the run declared `network: true`: address, prefix, interface,
   * and secondary addresses to add or remove inside. Every session of one VM
   * or node container shares it (one network namespace); each namespace
   * session has its own.
   */
  network?: NodeLink;
  /** Runs argv inside; never throws for a non-zero exit. Throws EnvironmentError if the environment is gone. */
  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  /** Starts argv detached (own session, stdout+stderr to outFile inside); returns its PID as seen inside. */
  spawnDetached(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<number>;
  /** Sends a signal (USR1, KILL, …) to this PID (as seen inside); false when there is no such process. Optional: without it, `kill` runs inside. */
  signal?(pid: number, sig: string): Promise<boolean>;
  /** Is this PID (as seen inside) a live process? A zombie is not. */
  isRunning(pid: number): Promise<boolean>;
  /** Does this PID (as seen inside) still name a process, a zombie included (its PID is free again only once reaped)? Optional. */
  pidInUse?(pid: number): Promise<boolean>;
  /** Copies a host file into the environment (mode kept). */
  copyIn(hostPath: string, envPath: string): Promise<void>;
  /**
   * Copies a directory out of the environment into hostDir (made root-only,
   * files 0600); returns hostDir. With a sink, each file's bytes go through
   * it instead (kept artifacts: encrypted on the way, never plaintext on disk).
   */
  copyOut(envPath: string, hostDir: string, opts?: { sink?: SinkFactory }): Promise<string>;
  /** Writes a file inside the work directory (root-only unless mode says otherwise). */
  writeFile(envPath: string, data: string | Buffer, mode?: number): Promise<void>;
  /** Reads a file from the environment. */
  readFile(envPath: string): Promise<Buffer>;
  /** Size in bytes of everything under a directory inside. */
  du(envPath: string): Promise<number>;
  /** Creates a directory (and parents) inside the work directory, root-only. */
  makeDir(envPath: string): Promise<void>;
  /** Removes a path inside the work directory. */
  remove(envPath: string): Promise<void>;
  /**
   * Where a path of the work directory lives on the host, for environments
   * whose work directory is a host directory (namespace nodes): lets the
   * harness copy between two such nodes directly. Optional; throws for a path
   * outside the work directory.
   */
  hostPath?(envPath: string): string;
  /** Tears everything down: processes, mounts, namespaces. Idempotent. */
  dispose(): Promise<void>;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What every command inside an environment starts from; ExecOptions.env adds to it. */
export const BASE_ENV: Readonly<Record<string, string>> = { PATH: DEFAULT_PATH, HOME: '/root', LANG: 'C' };
