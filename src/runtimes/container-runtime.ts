import { diagnose, logExcerpt, withUndiagnosed } from '../criu/diagnose.ts';
import type { CriuRun } from '../criu/driver.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import type { RuntimeName } from './detect.ts';
import type { Status } from '../results/schema.ts';

/** One container made from the workload rootfs, running one workload. */
export interface ContainerSpec {
  /** Container name (unique inside the environment). */
  id: string;
  /** The workload's file name under /cc in the container rootfs. */
  workload: string;
  args: string[];
  /**
   * A container of the operator's own root filesystem (a pilot service)
   * instead of the workload rootfs: its directory in the environment, its
   * command, user and environment. workload is then ignored.
   */
  own?: {
    rootfs: string;
    command: string[];
    uid: number;
    gid: number;
    env: Record<string, string>;
    /** runc: CRIU options it has no flag for, written to a CRIU configuration file its checkpoint and restore read (annotation org.criu.config). */
    criuConfig?: string[];
  };
}

/** CRIU options runc and crun pass on as flags of the same name (checkpoint and restore); podman has none of them. */
export interface JobOptions {
  shellJob?: boolean;
  extUnixSk?: boolean;
}

export interface CheckpointOptions extends JobOptions {
  /** Image directory inside the environment (runc/crun; podman keeps its own unless exporting). */
  imageDir: string;
  leaveRunning?: boolean;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  /** A pre-dump (iterative migration's first pass): the container keeps running. */
  preDump?: boolean;
  /** The final dump after a pre-dump: the pre-dump's image directory. */
  parentImageDir?: string;
  /** podman: write the checkpoint to this archive (inside the environment). */
  exportTo?: string;
}

export interface RestoreOptions extends JobOptions {
  imageDir: string;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  /** podman: restore from this archive (made by a checkpoint with exportTo, maybe on another node). */
  importFrom?: string;
}

/** A runtime command, with what CRIU and the runtime said about it (the shape of a CRIU run, plus podman's printed figures). */
export interface RuntimeRun extends Omit<CriuRun, 'hung'> {
  /** podman --print-stats: the JSON it printed, parsed. */
  printedStats?: Record<string, number>;
}

export type ContainerState = 'running' | 'stopped' | 'gone';

/**
 * What a runtime can do in this node image, asked instead of its type:
 * the suites never cast a runtime to a driver class.
 */
export interface RuntimeCapabilities {
  /** Checkpoint/restore at all (the inventory's finding), and why (not). */
  checkpoint: { ok: boolean; why: string };
  /**
   * Pre-dump then dump: needs CRIU's memory dirty tracking on this kernel
   * (probed once, on first use). PASS: it can; SKIP: CRIU said the feature is
   * missing; anything else: the probe decided nothing (crash, timeout…).
   */
  preDump(): Promise<{ status: Status; reason: string }>;
  /** Checkpoints exported to an archive and imported on another node (podman). */
  exportImport?: ExportImport;
}

/** What a node of another pool brings of its own to a migration: its CRIU settings, OCI runtime and capabilities. */
export interface PeerOptions {
  criuEnv: Record<string, string>;
  ociRuntime: string;
  capabilities: Omit<RuntimeCapabilities, 'exportImport'>;
}

export interface ExportImport {
  /**
   * A driver of the same runtime on another node, with this one's node path
   * (a checkpoint archive names paths of its node); prepare gives it this
   * node's workload image, same ID, as a registry would.
   */
  peerOn(env: Environment, own?: PeerOptions): { runtime: ContainerRuntime; prepare(workloads: Record<string, string>): Promise<RuntimeRun> };
  /** Copies a file of the environment into the container's root filesystem (a change its rootfs diff must carry). */
  addFile(id: string, from: string, to: string): Promise<RuntimeRun>;
  /** The paths changed in the container's root filesystem. */
  changedPaths(id: string): Promise<string[]>;
  /** Saves the image container ID was made from to an archive in the environment (another node loads it: the same image ID, as a registry pull would give). */
  saveImageOf(id: string, to: string): Promise<RuntimeRun>;
  /** Loads an image archive another node saved (saveImageOf). */
  loadImage(from: string): Promise<RuntimeRun>;
}

/**
 * The harness side of a container runtime, driven through an Environment:
 * the same calls for runc, crun and podman (made by createRuntime).
 */
export interface ContainerRuntime {
  readonly name: RuntimeName;
  readonly capabilities: RuntimeCapabilities;
  /** Makes the workload rootfs usable by this runtime (bundle skeleton, podman image import). */
  prepare(workloads: Record<string, string>): Promise<RuntimeRun>;
  start(spec: ContainerSpec): Promise<RuntimeRun>;
  /** The workload's protocol lines. */
  lines(id: string): Promise<string[]>;
  signal(id: string, sig: string): Promise<boolean>;
  state(id: string): Promise<ContainerState>;
  checkpoint(id: string, opts: CheckpointOptions): Promise<RuntimeRun>;
  restore(id: string, opts: RestoreOptions): Promise<RuntimeRun>;
  /** The directory of what a container has on its node besides its checkpoint (an OCI bundle: config, root filesystem); absent where the runtime carries it itself (podman's export). */
  containerFiles?(id: string): string;
  /** Runs a command inside a running container (as USER: a name for podman, uid:gid for runc/crun). */
  execIn(id: string, argv: readonly string[], o: { user?: string | undefined; timeoutMs: number; signal?: AbortSignal | undefined }): Promise<ExecResult>;
  /** The container's init PID as the environment sees it; undefined when it has none. */
  pid(id: string): Promise<number | undefined>;
  /** Where the runtime keeps a container's checkpoint images itself (podman: in its own storage); absent where the caller names the image directory (runc, crun). */
  checkpointImages?(id: string): Promise<string | undefined>;
  /** Removes the container and whatever the runtime keeps for it; never throws. */
  remove(id: string): Promise<void>;
  /** Removes everything this driver made in the environment (containers, storage, cgroups). */
  dispose(): Promise<void>;
}

/** Builds a RuntimeRun from a finished command and the CRIU log that goes with it (if any). */
export async function runtimeRun(env: Environment, argv: string[], result: ExecResult, criuLogs: string[] = []): Promise<RuntimeRun> {
  const logs: string[] = [];
  for (const f of criuLogs) {
    const buf = await env.readFile(f).catch(() => undefined);
    if (buf?.length) logs.push(buf.toString('utf8'));
  }
  const own = [result.stdout, result.stderr].filter(Boolean).join('\n');
  const text = [own, ...logs].filter(Boolean).join('\n');
  const ok = result.exitCode === 0 && !result.timedOut;
  const stage = argv.includes('checkpoint') ? 'runtime-checkpoint' : argv.includes('restore') ? 'runtime-restore' : 'any';
  const found = diagnose({ text, stage, timedOut: result.timedOut });
  return {
    argv,
    result,
    text,
    diagnoses: ok ? found : withUndiagnosed(found, { text, stage, reason: `${argv[0]} exited ${result.exitCode}${result.timedOut ? ' (timed out)' : ''}` }),
    // The runtime's own complaint first: it names the failing step; CRIU's log says why.
    excerpt: [...new Set([...logExcerpt(own, 4, 2), ...leadUp(logs.join('\n')), ...logExcerpt(logs.join('\n'))])].slice(0, 20),
    ok,
  };
}

/** The few CRIU log lines before its first real error: what it was doing when it failed. */
export function leadUp(log: string, n = 4): string[] {
  const lines = log.split('\n').filter((l) => l.trim() !== '');
  const i = lines.findIndex((l) => /\bError \(/.test(l) && !/RLIMIT_NOFILE/.test(l));
  return i > 0 ? lines.slice(Math.max(0, i - n), i).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)) : [];
}

/** Single-quotes a word for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Describes a failed runtime command in one line: the known cause, else the runtime's first error line. */
export function describeRuntimeFailure(what: string, r: RuntimeRun, timeoutMs: number): string {
  const cause = r.diagnoses.find((d) => d.blame !== 'note');
  const head = r.result.timedOut ? `${what} timed out after ${Math.round(timeoutMs / 1000)} s` : `${what} failed (exit ${r.result.exitCode})`;
  if (cause) return `${head}: ${cause.title}`;
  // CRIU's first real error says more than the runtime's summary of it ("container still running").
  // (restore logs put the task's pid before "Error": "(01.497638)      1: Error (soccr/soccr.c:529): …")
  const criu = r.text.split('\n').find((l) => /^\(\d+\.\d+\)\s+(\d+:\s+)?Error \(/.test(l) && !/RLIMIT_NOFILE/.test(l));
  if (criu) return `${head}: ${criu.replace(/^\(\d+\.\d+\)\s+(\d+:\s+)?Error \(([^)]*)\):\s*/, (_m, _p, where: string) => `${where.split('/')[0]}: `).slice(0, 300)}`;
  const said = [r.result.stderr, r.result.stdout, r.text]
    .join('\n')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /error|fail|cannot|can't|denied|not /i.test(l));
  return said ? `${head}: ${said.replace(/^time="[^"]*"\s*level=\w+\s*msg=/, '').slice(0, 300)}` : head;
}
