import { diagnose, failureStatus, logExcerpt } from '../criu/diagnose.ts';
import { decodeStats } from '../criu/images.ts';
import type { CellDraft } from './cell.ts';
import { isUnimplemented, type CriPods, type PodMount, type PodRef } from '../runtimes/cri/cri-pods.ts';
import { CriCallError } from '../runtimes/cri/cri-client.ts';
import { WORKLOAD_IMAGE } from '../runtimes/cri/containerd-config.ts';

/**
 * The cri suite's steps on one node: run a workload in a pod, checkpoint it
 * through CRI as the kubelet does (CheckpointContainer to a tar path with a
 * timeout), check the archive, and restore it into a new pod (containerd
 * 2.x: CreateContainer whose image is the archive, then StartContainer).
 */
export interface CriCellContext {
  pods: CriPods;
  /** A directory of this cell inside the environment. */
  dir: string;
  timeoutMs: number;
  /** containerd's version, named in SKIP reasons. */
  version: string;
}

/** What a kubelet checkpoint archive must hold (names only; contents are never read except CRIU's stats). */
export const ARCHIVE_ENTRIES = ['config.dump', 'spec.dump', 'checkpoint/inventory.img', 'checkpoint/pstree.img', 'stats-dump'];

async function waitLine(pods: CriPods, pod: PodRef, name: string, re: RegExp, timeoutMs: number): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = await pods.lines(pod, name);
    if (lines.some((l) => re.test(l)) || Date.now() > end) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Arguments of a workload in a pod: file-lock's file comes back as a copy (the new container's rootfs diff), not the same inode. */
const ARGS: Record<string, string[]> = { 'file-lock': ['/tmp', 'moved'] };

const why = (e: unknown) => (e instanceof CriCallError ? e.message : `harness: ${(e as Error).message}`);

/**
 * A failed CRI call as a cell: the known cause decides FAIL (the tuple) or
 * ERROR (the environment); a harness error is ERROR. When containerd names
 * CRIU's log (runc's "criu failed: … path= …/criu-dump.log"), that log is
 * read from the node and diagnosed with the message.
 */
async function failed(c: CriCellContext, e: unknown, stage: 'cri-checkpoint' | 'cri-restore', prefix: string, durations: CellDraft['durations']): Promise<CellDraft> {
  if (!(e instanceof CriCallError)) return { status: 'ERROR', reason: `${prefix}${why(e)}`, durations };
  // CRIU logs to the node's configured log-file (see criuConfig): runc's restore error names no log, and the path a checkpoint error names stays empty.
  const read = async (p: string | undefined) => (p ? (await c.pods.o.env.readFile(p).catch(() => Buffer.alloc(0))).toString('utf8') : '');
  const log = (await read(/path= ?(\/\S+\.log)/.exec(e.message)?.[1])) || (await read(c.pods.node.layout.criuLog));
  const diagnoses = diagnose({ text: [e.message, log].join('\n'), stage });
  const cause = diagnoses.find((d) => d.blame !== 'note');
  const criuError = log.split('\n').find((l) => /\bError \(/.test(l) && !/RLIMIT_NOFILE/.test(l));
  const said = criuError ? `CRIU: ${criuError.replace(/^\(\d+\.\d+\)\s+(\d+:\s+)?/, '')}` : e.message;
  return {
    status: failureStatus(diagnoses),
    reason: `${prefix}${cause ? `${cause.title}: ` : ''}${said}`.slice(0, 600),
    durations,
    diagnoses,
    logExcerpt: [e.message.slice(0, 400), ...(log ? logExcerpt(log) : [])].slice(0, 20),
  };
}

/** Starts WORKLOAD in a new pod and waits for its "ready"; the draft is set when that failed. */
export async function startWorkload(c: CriCellContext, workload: string, extras: PodExtras = {}): Promise<{ pod: PodRef; id: string; startMs: number; draft?: CellDraft }> {
  const pod = await c.pods.runPod(workload);
  const s = await c.pods.createAndStart(pod, workload, WORKLOAD_IMAGE, [`/cc/${workload}`, ...(extras.args ?? ARGS[workload] ?? [])], extras.mounts);
  const lines = await waitLine(c.pods, pod, workload, /^(ready|FAIL)/, c.timeoutMs);
  const ready = lines.includes('ready');
  const draft: CellDraft | undefined = ready ? undefined : { status: 'FAIL', reason: `${workload} never printed ready in its pod${lines.length ? `: ${lines.slice(-1)[0]}` : ''}`, durations: { totalMs: 0, startMs: s.createMs + s.startMs }, workloadOutput: lines };
  return { pod, id: s.id, startMs: s.createMs + s.startMs, ...(draft ? { draft } : {}) };
}

/** What a cell adds to the workload's container: its arguments, node directories bound in, a step just before CheckpointContainer (given the pod). */
export interface PodExtras {
  args?: string[];
  mounts?: PodMount[];
  beforeCheckpoint?: (pod: PodRef) => Promise<void>;
}

export interface CheckpointOutcome {
  draft: CellDraft;
  /** The archive's path inside the node when the checkpoint and its checks passed. */
  archive?: string;
}

/** CheckpointContainer of a running workload, and the archive checked: entries, mode and owner, CRIU's stats. */
export async function checkpointCell(c: CriCellContext, workload: string, extras: PodExtras = {}): Promise<CheckpointOutcome> {
  const t0 = Date.now();
  const w = await startWorkload(c, workload, extras);
  if (w.draft) return { draft: w.draft };
  await extras.beforeCheckpoint?.(w.pod);
  const archive = `${c.dir}/checkpoint-${workload}.tar`;
  const timeoutS = Math.max(1, Math.round(c.timeoutMs / 1000));
  const t1 = Date.now();
  try {
    await c.pods.client.checkpoint(w.id, archive, timeoutS);
  } catch (e) {
    const durations = { totalMs: Date.now() - t0, startMs: w.startMs, dumpMs: Date.now() - t1 };
    if (isUnimplemented(e))
      return { draft: { status: 'SKIP', reason: `capability missing: containerd ${c.version} does not implement CRI CheckpointContainer (UNIMPLEMENTED: ${e.details})`, durations, diagnoses: diagnose({ text: e.message, stage: 'cri-checkpoint' }) } };
    return { draft: await failed(c, e, 'cri-checkpoint', '', durations) };
  }
  const dumpMs = Date.now() - t1;
  // The kubelet's checkpoint is forensic: the container must go on running.
  const after = await c.pods.status(w.id).catch((e: Error) => ({ state: `unknown (${e.message})` }));
  const env = c.pods.o.env;
  const x = `${c.dir}/archive-check`;
  await env.makeDir(x);
  // Names only; then the two small files the harness decodes (CRIU's stats, the container's status) extracted.
  const r = await env.exec(['sh', '-c', `stat -c '%a %U %G %s' ${archive} && tar -tf ${archive} && tar -xf ${archive} -C ${x} stats-dump`], { timeoutMs: c.timeoutMs });
  // The harness could not read it in time: nothing is known about the archive (a tar that reads and fails is the tuple's, below).
  if (r.timedOut || r.signal) {
    await c.pods.removePod(w.pod);
    return { draft: { status: 'ERROR', reason: `harness: reading the checkpoint archive ${r.timedOut ? `took over ${c.timeoutMs} ms` : `was killed by ${r.signal}`}`, durations: { totalMs: Date.now() - t0, startMs: w.startMs, dumpMs } } };
  }
  const [head, ...names] = r.stdout.trim().split('\n');
  const [mode, owner, group, size] = (head ?? '').split(' ');
  const entries = new Set(names.map((n) => n.replace(/^\.\//, '').replace(/\/$/, '')));
  const missing = ARCHIVE_ENTRIES.filter((n) => !entries.has(n));
  const pages = names.some((n) => /checkpoint\/pages-\d+\.img$/.test(n));
  const durations = { totalMs: Date.now() - t0, startMs: w.startMs, dumpMs };
  const metrics: NonNullable<CellDraft['metrics']> = { archiveBytes: Number(size) || 0 };
  try {
    const s = decodeStats(await env.readFile(`${x}/stats-dump`), 'stats-dump');
    if (s.dump) metrics.criuDump = { ...s.dump };
  } catch (e) {
    metrics.statsError = (e as Error).message;
  }
  await c.pods.removePod(w.pod);
  const problems = [
    ...(r.exitCode !== 0 ? [`reading the archive failed: ${r.stderr.trim().slice(0, 200)}`] : []),
    ...(missing.length ? [`the archive lacks ${missing.join(', ')}`] : []),
    ...(pages ? [] : ['the archive holds no CRIU pages image']),
    ...(after.state === 'CONTAINER_RUNNING' ? [] : [`the container is ${after.state} after CheckpointContainer (it must keep running)`]),
    ...(mode !== '600' || owner !== 'root' || group !== 'root' ? [`the archive is ${mode} ${owner}:${group}, not 600 root:root`] : []),
    ...(metrics.statsError ? [`CRIU's stats-dump in the archive: ${metrics.statsError}`] : []),
  ];
  if (problems.length) return { draft: { status: 'FAIL', reason: problems.join('; '), durations, metrics } };
  return {
    draft: { status: 'PASS', reason: `CheckpointContainer wrote a ${(Number(size) / 1e6).toFixed(1)} MB archive (0600 root) with config.dump, spec.dump, CRIU images and stats in ${dumpMs} ms; the container kept running`, durations, metrics },
    archive,
  };
}

/** CreateContainer answered NOT_FOUND for the archive's own path: the runtime resolved it as an image reference (no restore path). */
function archiveTakenForImageName(e: unknown, archive: string): e is CriCallError {
  return e instanceof CriCallError && e.codeName === 'NOT_FOUND' && e.details.includes(`"${archive}"`);
}

/** Restores ARCHIVE into a new pod (CreateContainer with the archive as image, StartContainer); the workload verifies itself. */
export async function restoreCell(c: CriCellContext, workload: string, archive: string, mounts: PodMount[] = []): Promise<CellDraft> {
  const t0 = Date.now();
  let pod: PodRef | undefined;
  try {
    pod = await c.pods.runPod(`${workload}-restored`);
    let s: { id: string; createMs: number; startMs: number };
    try {
      // The checkpointed container's mounts again (as the kubelet passes the pod spec's): runc maps them for CRIU as external mounts.
      s = await c.pods.createAndStart(pod, workload, archive, [`/cc/${workload}`], mounts);
    } catch (e) {
      const durations = { totalMs: Date.now() - t0 };
      if (isUnimplemented(e)) return { status: 'SKIP', reason: `capability missing: containerd ${c.version} cannot create a container from a checkpoint archive (UNIMPLEMENTED)`, durations };
      // containerd 1.7 has no restore in CreateContainer: it looks the archive's path up as an image name.
      if (archiveTakenForImageName(e, archive))
        return { status: 'SKIP', reason: `capability missing: containerd ${c.version} cannot restore from a checkpoint archive (CreateContainer looked the archive up as an image name: ${e.details})`, durations, diagnoses: diagnose({ text: e.message, stage: 'cri-restore' }) };
      return await failed(c, e, 'cri-restore', 'restore: ', durations);
    }
    const restoreMs = s.createMs + s.startMs;
    const t1 = Date.now();
    // The restored log is the checkpointed one plus what the workload prints from now on: wait for a fresh verdict.
    const before = (await c.pods.lines(pod, workload)).length;
    if (!(await c.pods.signal(s.id, 'USR1'))) return { status: 'FAIL', reason: 'the restored container has no running process to signal', durations: { totalMs: Date.now() - t0, restoreMs } };
    const end = Date.now() + c.timeoutMs;
    let lines = await c.pods.lines(pod, workload);
    while (!lines.slice(before).some((l) => /^(PASS|FAIL)/.test(l)) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      lines = await c.pods.lines(pod, workload);
    }
    const verdict = lines.slice(before).find((l) => /^(PASS|FAIL)/.test(l));
    const durations = { totalMs: Date.now() - t0, restoreMs, verifyMs: Date.now() - t1 };
    if (!verdict) return { status: 'FAIL', reason: `the restored ${workload} gave no verdict within ${Math.round(c.timeoutMs / 1000)} s`, durations, workloadOutput: lines.slice(-10) };
    return verdict === 'PASS'
      ? { status: 'PASS', reason: `restored from the CRI checkpoint archive into a new pod in ${restoreMs} ms; ${workload} verified its state`, durations, workloadOutput: lines.slice(-10) }
      : { status: 'FAIL', reason: `restored, but ${workload} says ${verdict}`, durations, workloadOutput: lines.slice(-10) };
  } finally {
    if (pod) await c.pods.removePod(pod);
  }
}
