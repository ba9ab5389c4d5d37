import type { Settings } from '../config/schema.ts';
import type { Environment } from '../environments/environment.ts';
import { describeRuntimeFailure, type ContainerRuntime, type RuntimeRun } from '../runtimes/container-runtime.ts';
import type { RuntimeInfo } from '../runtimes/detect.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Cell, Status } from '../results/schema.ts';
import { askVerdict, waitReady, type ProtocolPeer } from '../workloads/protocol.ts';
import { failureStatus } from './cell.ts';
import type { Attempt } from './round-trip.ts';

/**
 * run: the runtime starts the workload and it verifies itself (no checkpoint): can this runtime run containers here at all?
 * dump: checkpoint (the container must be gone) → restore → verify.
 * leave-running: checkpoint --leave-running, the container must still run, verify.
 * pre-dump: a pre-dump first, then the final dump on top of it → restore → verify.
 * migrate (podman): checkpoint --export on this node, restore --import on another, verify there.
 */
export type ContainerMode = 'run' | 'dump' | 'leave-running' | 'pre-dump' | 'migrate';

export interface ContainerCase {
  check: string;
  workload: string;
  args: string[];
  mode: ContainerMode;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
}

/** The cells of one runtime in one pool. */
export function containerCases(runtime: RuntimeInfo['name']): ContainerCase[] {
  const c = (check: string, workload: string, mode: ContainerMode, extra: Partial<ContainerCase> = {}): ContainerCase => ({ check: `${runtime}/${check}`, workload, args: [], mode, ...extra });
  const cases = [
    c('run', 'counter', 'run'),
    c('counter', 'counter', 'dump'),
    c('process-tree', 'process-tree', 'dump'),
    c('tcp-established', 'tcp-established', 'dump', { tcpEstablished: true }),
    c('file-lock', 'file-lock', 'dump', { fileLocks: true }),
    c('counter/leave-running', 'counter', 'leave-running'),
    c('counter/pre-dump', 'counter', 'pre-dump'),
  ];
  if (runtime === 'podman') cases.push(c('counter/export-import', 'counter', 'migrate'));
  return cases;
}

export interface ContainerAttemptContext {
  env: Environment;
  runtime: ContainerRuntime;
  info: RuntimeInfo;
  /** Directory inside the environment for this attempt's checkpoint images. */
  dir: string;
  /** Container name, unique in the environment. */
  id: string;
  timeouts: Settings['timeouts'];
  /** Does this pool's CRIU have memory dirty tracking (pre-dump)? */
  dirtyTracking: boolean | undefined;
  /** migrate: the other node, with its own runtime driver (prepared). */
  peer?: { env: Environment; runtime: ContainerRuntime } | undefined;
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
export async function attemptContainerRoundTrip(c: ContainerCase, x: ContainerAttemptContext): Promise<Attempt> {
  const { env, runtime, dir, id, timeouts: t } = x;
  const t0 = performance.now();
  const commands: string[] = [];
  const durations: Cell['durations'] = { totalMs: 0 };
  let metrics: Cell['metrics'] = {};
  let where: { env: Environment; runtime: ContainerRuntime } = { env, runtime };
  const wl = () => Object.assign(new ContainerPeer(where.runtime, id), { abortSignal: x.signal });
  let output: string[] = [];
  let archiveSummary = '';

  const finish = async (status: Status, reason: string, run?: RuntimeRun): Promise<Attempt> => {
    durations.totalMs = performance.now() - t0;
    output = await where.runtime.lines(id).catch(() => output);
    if (c.mode !== 'run' && c.mode !== 'migrate') {
      const imageBytes = await env.du(`${dir}/img`).catch(() => 0);
      if (imageBytes) metrics = { ...metrics, imageBytes };
      // runc and crun have CRIU write its stats into the work directory, beside its logs.
      if (runtime.name !== 'podman') metrics = { ...metrics, ...(await readCriuStats(env, `${dir}/img.work`)) };
    }
    await runtime.remove(id);
    if (c.mode === 'migrate' && x.peer) await x.peer.runtime.remove(id);
    return {
      status,
      reason,
      durations,
      metrics,
      diagnoses: run?.diagnoses ?? [],
      logExcerpt: run?.excerpt ?? [],
      commands,
      workloadOutput: output,
    };
  };
  const note = (r: RuntimeRun) => {
    commands.push(r.argv.join(' ').replaceAll(`${env.workDir}/`, ''));
    if (r.printedStats) metrics = { ...metrics, runtimeStats: { ...(metrics.runtimeStats ?? {}), ...prefixed(r.printedStats, r.argv) } };
    return r;
  };
  const failed = (what: string, r: RuntimeRun) => finish(failureStatus(r.diagnoses), describeRuntimeFailure(what, r, t.criuMs), r);

  if (c.mode !== 'run' && !x.info.checkpoint) return finish('SKIP', x.info.detail.startsWith('capability missing') ? x.info.detail : `capability missing: ${x.info.detail}`);
  if (c.mode === 'pre-dump' && x.dirtyTracking === false) return finish('SKIP', 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)');

  const started = note(await runtime.start({ id, workload: c.workload, args: c.args }));
  durations.startMs = started.result.durationMs;
  if (!started.ok) return failed(`${runtime.name} run`, started);
  const ready = await waitReady(wl(), t.readyMs, 50);
  if (!ready.ok) return finish('ERROR', ready.alive ? `workload ${c.workload} printed no "ready" within ${t.readyMs} ms` : `workload ${c.workload} exited before it was ready (in a ${runtime.name} container)`);

  if (c.mode === 'pre-dump') {
    const pre = note(await runtime.checkpoint(id, { imageDir: `${dir}/pre`, preDump: true }));
    durations.preDumpMs = pre.result.durationMs;
    if (!pre.ok) return failed(`${runtime.name} pre-dump`, pre);
  }
  // A migration carries the container's filesystem changes too: make one the other node must see.
  const marker = '/cc/changed-on-source';
  if (c.mode === 'migrate' && runtime.addFile) {
    await env.writeFile(`${dir}/marker`, 'written on the source node\n');
    const added = note(await runtime.addFile(id, `${dir}/marker`, marker));
    if (!added.ok) return failed(`${runtime.name} cp into the container`, added);
  }
  if (c.mode !== 'run') {
    const archive = `${dir}/checkpoint.tar.gz`;
    const ck = note(
      await runtime.checkpoint(id, {
        imageDir: `${dir}/img`,
        ...(c.mode === 'leave-running' ? { leaveRunning: true } : {}),
        ...(c.mode === 'pre-dump' ? { parentImageDir: '../pre' } : {}),
        ...(c.mode === 'migrate' ? { exportTo: archive } : {}),
        ...(c.tcpEstablished ? { tcpEstablished: true } : {}),
        ...(c.fileLocks ? { fileLocks: true } : {}),
      }),
    );
    durations.dumpMs = ck.result.durationMs;
    if (!ck.ok) return failed(`${runtime.name} checkpoint`, ck);
    const state = await runtime.state(id);
    if (c.mode === 'leave-running') {
      if (state !== 'running') return finish('FAIL', `${runtime.name} checkpoint --leave-running exited 0 but the container is ${state}`, ck);
    } else {
      if (state === 'running') return finish('FAIL', `${runtime.name} checkpoint exited 0 but the container still runs`, ck);
      if (c.mode === 'migrate') {
        const peer = x.peer;
        if (!peer) return finish('ERROR', 'no second environment to import the checkpoint into');
        const moved = await carryArchive(env, archive, peer.env, archive);
        metrics = { ...metrics, archiveBytes: moved.bytes };
        archiveSummary = summarizeArchive(moved.entries, moved.bytes);
        if (moved.problem) return finish('FAIL', moved.problem, ck);
        await runtime.remove(id); // the source node forgets the container: only the archive goes on
        where = peer;
      }
      const rs = note(
        await where.runtime.restore(id, {
          imageDir: `${dir}/img`,
          ...(c.mode === 'migrate' ? { importFrom: archive } : {}),
          ...(c.tcpEstablished ? { tcpEstablished: true } : {}),
          ...(c.fileLocks ? { fileLocks: true } : {}),
        }),
      );
      durations.restoreMs = rs.result.durationMs;
      if (!rs.ok) return failed(`${runtime.name} restore${c.mode === 'migrate' ? ' --import (on the other node)' : ''}`, rs);
      if (c.mode === 'migrate' && where.runtime.changedPaths && !(await where.runtime.changedPaths(id)).includes(marker))
        return finish('FAIL', `the container restored on the other node lacks ${marker}, a file changed in its root filesystem before the checkpoint (the rootfs diff did not travel)`, rs);
    }
  }

  const v0 = performance.now();
  const verdict = await askVerdict(wl(), t.verifyMs, 50);
  durations.verifyMs = performance.now() - v0;
  const what = c.mode === 'run' ? `workload in a ${runtime.name} container` : c.mode === 'leave-running' ? 'container left running' : c.mode === 'migrate' ? 'container restored on the other node' : 'restored container';
  if (verdict.status === 'PASS') return finish('PASS', `${what} verified its own state${archiveSummary ? ` (${archiveSummary})` : ''}`);
  if (verdict.status === 'FAIL') return finish('FAIL', `${what}: ${verdict.message}`);
  return finish('FAIL', verdict.alive ? `${what} gave no verdict within ${t.verifyMs} ms` : `${what} died without a verdict`);
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

/**
 * Moves a checkpoint archive from one node to another through the harness,
 * as a migration controller would, and checks it on the way: root-only, and
 * holding what a restore elsewhere needs (the spec, the checkpoint images,
 * the rootfs changes). Never reads memory pages: only the file list.
 */
export async function carryArchive(from: Environment, src: string, to: Environment, dst: string): Promise<{ bytes: number; problem?: string; entries: string[] }> {
  const st = await from.exec(['stat', '-c', '%a %s', src], { timeoutMs: 10_000 });
  const [mode, size] = st.stdout.trim().split(' ');
  const list = await from.exec(['tar', '-tzf', src], { timeoutMs: 60_000 });
  const entries = list.stdout.split('\n').filter(Boolean);
  const bytes = Number(size) || 0;
  if (st.exitCode !== 0 || list.exitCode !== 0) return { bytes, entries, problem: `the exported archive cannot be read: ${(st.stderr || list.stderr).trim()}` };
  const missing = ['config.dump', 'spec.dump', 'checkpoint/', 'rootfs-diff.tar'].filter((e) => !entries.some((x) => x.replace(/^\.\//, '').startsWith(e)));
  if (missing.length) return { bytes, entries, problem: `the exported archive lacks ${missing.join(', ')}` };
  if (mode && /[0-7][1-7]$|[1-7][0-7]$/.test(mode.slice(-2))) return { bytes, entries, problem: `the exported archive is readable by others (mode ${mode}): it holds the container's memory` };
  await to.makeDir(dst.slice(0, dst.lastIndexOf('/')));
  await to.writeFile(dst, await from.readFile(src), 0o600);
  return { bytes, entries };
}
