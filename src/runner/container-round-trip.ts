import type { Settings } from '../config/schema.ts';
import type { Environment } from '../environments/environment.ts';
import { describeRuntimeFailure, type ContainerRuntime, type RuntimeRun } from '../runtimes/container-runtime.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Cell } from '../results/schema.ts';
import { askVerdict, waitReady, type ProtocolPeer } from '../workloads/protocol.ts';
import type { ContainerCase, ContainerMode } from './container-cases.ts';
import { runAttempt, type Ending, type StepName, type Subject } from './attempt.ts';
import { failureStatus } from '../criu/diagnose.ts';
import { moveTrees } from './transfer.ts';
import { sealFileOnNode, TransferTamperedError, verifyFileOnNode } from './transfer-integrity.ts';
import type { Criu } from '../criu/driver.ts';
import { missingCapability } from './capabilities.ts';
import type { Attempt } from './repeat.ts';

export type { ContainerCase, ContainerMode } from './container-cases.ts';

export interface ContainerAttemptContext {
  env: Environment;
  runtime: ContainerRuntime;
  /** Directory inside the environment for this attempt's checkpoint images. */
  dir: string;
  /** Container name, unique in the environment. */
  id: string;
  timeouts: Settings['timeouts'];
  /** The node's CRIU, which probes the capabilities a class needs. */
  criu?: Criu | undefined;
  /** migrate: the other node, with its own runtime driver (prepared). */
  peer?: { env: Environment; runtime: ContainerRuntime } | undefined;
  /** migrate with a runtime that has no export archive: the host directory the images and the bundle pass through. */
  transit?: string | undefined;
  signal?: AbortSignal | undefined;
}

class ContainerPeer implements ProtocolPeer {
  abortSignal: AbortSignal | undefined;
  private readonly rt: ContainerRuntime;
  private readonly id: string;
  constructor(rt: ContainerRuntime, id: string) {
    this.rt = rt;
    this.id = id;
  }
  lines(): Promise<string[]> {
    return this.rt.lines(this.id);
  }
  async alive(): Promise<boolean> {
    return (await this.rt.state(this.id)) === 'running';
  }
  signal(sig: string): Promise<boolean> {
    return this.rt.signal(this.id, sig);
  }
}

/** One container round trip, start to verdict. Throws only when the harness cannot go on. */
export function attemptContainerRoundTrip(c: ContainerCase, x: ContainerAttemptContext): Promise<Attempt> {
  return runAttempt(new ContainerSubject(c, x), x.timeouts);
}

/** A changed file a migration must carry in the container's rootfs diff. */
const MARKER = '/cc/changed-on-source';

/** A workload container, checkpointed and restored by its runtime (on another node for a migration). */
class ContainerSubject implements Subject<RuntimeRun> {
  readonly mode: ContainerMode;
  readonly verifier: string;
  readonly verdictShowsLastRun = false;
  private readonly c: ContainerCase;
  private readonly x: ContainerAttemptContext;
  private readonly name: string;
  private readonly commands: string[] = [];
  private metrics: Cell['metrics'] = {};
  /** Where the container runs now: this node, or the peer after a migration. */
  private where: { env: Environment; runtime: ContainerRuntime };
  private archiveSummary = '';

  constructor(c: ContainerCase, x: ContainerAttemptContext) {
    this.c = c;
    this.x = x;
    this.mode = c.mode;
    this.name = x.runtime.name;
    this.where = { env: x.env, runtime: x.runtime };
    this.verifier = c.mode === 'run' ? `workload in a ${this.name} container` : c.mode === 'leave-running' ? 'container left running' : c.mode === 'migrate' ? 'container restored on the other node' : 'restored container';
  }

  private note(r: RuntimeRun): RuntimeRun {
    this.commands.push(r.argv.join(' ').replaceAll(`${this.x.env.workDir}/`, ''));
    if (r.printedStats) this.metrics = { ...this.metrics, runtimeStats: { ...(this.metrics.runtimeStats ?? {}), ...prefixed(r.printedStats, r.argv) } };
    return r;
  }

  private peer(): ProtocolPeer {
    return Object.assign(new ContainerPeer(this.where.runtime, this.x.id), { abortSignal: this.x.signal });
  }

  async gate(): Promise<Ending | undefined> {
    if (this.c.needs?.length) {
      if (!this.x.criu) return { status: 'ERROR', reason: `harness: ${this.c.workload} needs capabilities probed, and no CRIU driver was given to probe them` };
      const missing = await missingCapability(this.c.needs, { env: this.x.env, criu: this.x.criu, commandMs: this.x.timeouts.commandMs });
      if (missing) return missing;
    }
    const can = this.x.runtime.capabilities;
    if (this.mode !== 'run' && !can.checkpoint.ok) return { status: 'SKIP', reason: can.checkpoint.why.startsWith('capability missing') ? can.checkpoint.why : `capability missing: ${can.checkpoint.why}` };
    if (this.mode === 'pre-dump') {
      // Missing only when CRIU said so; a probe that crashed or timed out decided nothing (ERROR).
      const probe = await can.preDump();
      if (probe.status === 'SKIP') return { status: 'SKIP', reason: 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)' };
      if (probe.status !== 'PASS') return { status: probe.status, reason: `pre-dump needs mem_dirty_track, and its probe decided nothing: ${probe.reason}` };
    }
    return undefined;
  }

  async start(): Promise<RuntimeRun> {
    return this.note(await this.x.runtime.start({ id: this.x.id, workload: this.c.workload, args: this.c.args }));
  }

  ready(timeoutMs: number) {
    return waitReady(this.peer(), timeoutMs, 50);
  }

  notReady(alive: boolean): string {
    const w = this.c.workload;
    return alive ? `workload ${w} printed no "ready" within ${this.x.timeouts.readyMs} ms` : `workload ${w} exited before it was ready (in a ${this.name} container)`;
  }

  async preDump(): Promise<RuntimeRun> {
    return this.note(await this.x.runtime.checkpoint(this.x.id, { imageDir: `${this.x.dir}/pre`, preDump: true }));
  }

  async beforeDump(): Promise<Ending | undefined> {
    const ei = this.x.runtime.capabilities.exportImport;
    if (this.mode !== 'migrate' || !ei) return undefined;
    await this.x.env.writeFile(`${this.x.dir}/marker`, 'written on the source node\n');
    const added = this.note(await ei.addFile(this.x.id, `${this.x.dir}/marker`, MARKER));
    return added.ok ? undefined : { status: failureStatus(added.diagnoses), reason: describeRuntimeFailure(`${this.name} cp into the container`, added, this.x.timeouts.criuMs), run: added };
  }

  async dump(): Promise<RuntimeRun> {
    const { c, x } = this;
    return this.note(
      await x.runtime.checkpoint(x.id, {
        imageDir: `${x.dir}/img`,
        ...(c.mode === 'leave-running' ? { leaveRunning: true } : {}),
        ...(c.mode === 'pre-dump' ? { parentImageDir: '../pre' } : {}),
        ...(c.mode === 'migrate' ? { exportTo: this.archive } : {}),
        ...(c.tcpEstablished ? { tcpEstablished: true } : {}),
        ...(c.fileLocks ? { fileLocks: true } : {}),
      }),
    );
  }

  private get archive(): string {
    return `${this.x.dir}/checkpoint.tar.gz`;
  }

  async afterDump(ck: RuntimeRun): Promise<Ending | undefined> {
    const { x, name } = this;
    const state = await x.runtime.state(x.id);
    if (this.mode === 'leave-running') return state === 'running' ? undefined : { status: 'FAIL', reason: `${name} checkpoint --leave-running exited 0 but the container is ${state}`, run: ck };
    if (state === 'running') return { status: 'FAIL', reason: `${name} checkpoint exited 0 but the container still runs`, run: ck };
    if (this.mode !== 'migrate') return undefined;
    if (!x.peer) return { status: 'ERROR', reason: 'no second environment to import the checkpoint into' };
    if (!x.runtime.capabilities.exportImport) return this.moveContainer(ck);
    let moved: Awaited<ReturnType<typeof carryArchive>>;
    try {
      moved = await carryArchive(x.env, this.archive, x.peer.env, this.archive);
    } catch (e) {
      if (e instanceof TransferTamperedError) return { status: 'ERROR', reason: e.message, run: ck, diagnoses: [e.diagnosis] };
      throw e;
    }
    this.metrics = { ...this.metrics, archiveBytes: moved.bytes };
    this.archiveSummary = summarizeArchive(moved.entries, moved.bytes);
    if (moved.problem) return { status: 'FAIL', reason: moved.problem, run: ck };
    await x.runtime.remove(x.id); // the source node forgets the container: only the archive goes on
    this.where = x.peer;
    return undefined;
  }

  /**
   * A runtime without an export archive (runc): its checkpoint images and the
   * container's bundle (config and root filesystem, the workload's files in
   * it) go to the same paths on the other node, through the host, as a
   * migration controller would carry them; that node's runtime restores
   * from them.
   */
  private async moveContainer(ck: RuntimeRun): Promise<Ending | undefined> {
    const { x } = this;
    const peer = x.peer!;
    const bundle = x.runtime.containerFiles?.(x.id);
    if (!bundle) return { status: 'ERROR', reason: `harness: ${this.name} has no export archive and its driver names no container files to move`, run: ck };
    if (peer.env !== x.env) {
      if (!x.transit) return { status: 'ERROR', reason: 'harness: no transit directory to move the container through' };
      let bytes = 0;
      try {
        bytes = (await moveTrees(x.env, peer.env, [`${x.dir}/img`, `${x.dir}/img.work`, bundle], x.transit, { signal: x.signal })).bytes;
      } catch (e) {
        if (e instanceof TransferTamperedError) return { status: 'ERROR', reason: e.message, run: ck, diagnoses: [e.diagnosis] };
        throw e;
      }
      this.metrics = { ...this.metrics, imageBytes: bytes };
      await x.runtime.remove(x.id); // the source node forgets the container: its images and bundle went on
    }
    this.where = peer;
    return undefined;
  }

  async restore(): Promise<RuntimeRun> {
    const { c, x } = this;
    return this.note(
      await this.where.runtime.restore(x.id, {
        imageDir: `${x.dir}/img`,
        ...(c.mode === 'migrate' ? { importFrom: this.archive } : {}),
        ...(c.tcpEstablished ? { tcpEstablished: true } : {}),
        ...(c.fileLocks ? { fileLocks: true } : {}),
      }),
    );
  }

  async afterRestore(rs: RuntimeRun): Promise<Ending | undefined> {
    const ei = this.where.runtime.capabilities.exportImport;
    if (this.mode === 'migrate' && ei && !(await ei.changedPaths(this.x.id)).includes(MARKER))
      return { status: 'FAIL', reason: `the container restored on the other node lacks ${MARKER}, a file changed in its root filesystem before the checkpoint (the rootfs diff did not travel)`, run: rs };
    return undefined;
  }

  verdict(timeoutMs: number) {
    return askVerdict(this.peer(), timeoutMs, 50);
  }

  async passed() {
    return this.archiveSummary ? { note: this.archiveSummary } : {};
  }

  failure(step: StepName, run: RuntimeRun): string {
    const what = step === 'start' ? 'run' : step === 'restore' && this.mode === 'migrate' ? 'restore --import (on the other node)' : step === 'dump' ? 'checkpoint' : step;
    return describeRuntimeFailure(`${this.name} ${what}`, run, this.x.timeouts.criuMs);
  }

  async collect() {
    const { c, x } = this;
    const output = await this.where.runtime.lines(x.id).catch(() => []);
    if (c.mode !== 'run' && c.mode !== 'migrate') {
      const imageBytes = await x.env.du(`${x.dir}/img`).catch(() => 0);
      if (imageBytes) this.metrics = { ...this.metrics, imageBytes };
      // runc and crun have CRIU write its stats into the work directory, beside its logs.
      if (x.runtime.name !== 'podman') this.metrics = { ...this.metrics, ...(await readCriuStats(x.env, `${x.dir}/img.work`)) };
    }
    await x.runtime.remove(x.id);
    if (c.mode === 'migrate' && x.peer) await x.peer.runtime.remove(x.id);
    return { metrics: this.metrics, output, commands: this.commands };
  }
}

/** podman's figures get the step they belong to: "checkpoint.criu.frozenTimeUs", "preCheckpoint.…", "restore.…". */
function prefixed(stats: Record<string, number>, argv: readonly string[]): Record<string, number> {
  const step = argv.includes('restore') ? 'restore' : argv.includes('--pre-checkpoint') ? 'preCheckpoint' : 'checkpoint';
  return Object.fromEntries(Object.entries(stats).map(([k, v]) => [`${step}.${k}`, v]));
}

/** "archive 16.8 MB, root-only: config.dump, spec.dump, checkpoint/ (12 files), rootfs-diff.tar" — names only, never contents. */
export function summarizeArchive(entries: readonly string[], bytes: number): string {
  const names = entries.map((e) => e.replace(/^\.\//, '')).filter(Boolean);
  const top = [...new Set(names.map((n) => (n.includes('/') ? `${n.slice(0, n.indexOf('/'))}/` : n)))];
  const parts = top.map((t) => (t.endsWith('/') ? `${t} (${names.filter((n) => n.startsWith(t) && n !== t).length} files)` : t));
  return `archive ${(bytes / 1e6).toFixed(1)} MB, root-only: ${parts.join(', ')}`;
}

/** What podman's export archive of a container made from an image holds: its config and spec, the images, its root filesystem's changes. */
export const ARCHIVE_ENTRIES = ['config.dump', 'spec.dump', 'checkpoint/', 'rootfs-diff.tar'] as const;

/**
 * Moves a checkpoint archive from one node to another through the harness,
 * as a migration controller would, and checks it on the way: root-only, and
 * holding what a restore elsewhere needs (the spec, the checkpoint images,
 * the rootfs changes: NEED). Never reads memory pages: only the file list.
 */
export async function carryArchive(from: Environment, src: string, to: Environment, dst: string, need: readonly string[] = ARCHIVE_ENTRIES): Promise<{ bytes: number; problem?: string; entries: string[] }> {
  const st = await from.exec(['stat', '-c', '%a %s', src], { timeoutMs: 10_000 });
  const [mode, size] = st.stdout.trim().split(' ');
  const list = await from.exec(['tar', '-tzf', src], { timeoutMs: 60_000 });
  const entries = list.stdout.split('\n').filter(Boolean);
  const bytes = Number(size) || 0;
  if (st.exitCode !== 0 || list.exitCode !== 0) return { bytes, entries, problem: `the exported archive cannot be read: ${(st.stderr || list.stderr).trim()}` };
  const missing = need.filter((e) => !entries.some((x) => x.replace(/^\.\//, '').startsWith(e)));
  if (missing.length) return { bytes, entries, problem: `the exported archive lacks ${missing.join(', ')}` };
  if (mode && /[0-7][1-7]$|[1-7][0-7]$/.test(mode.slice(-2))) return { bytes, entries, problem: `the exported archive is readable by others (mode ${mode}): it holds the container's memory` };
  // Sealed on the source before it leaves, checked on the destination before any import (TransferTamperedError).
  const sealed = await sealFileOnNode(from, src);
  await to.makeDir(dst.slice(0, dst.lastIndexOf('/')));
  await to.writeFile(dst, await from.readFile(src), 0o600);
  await verifyFileOnNode(to, dst, sealed, from.id);
  return { bytes, entries };
}
