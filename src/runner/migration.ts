import { CRI_MIGRATION_WORKLOADS, type Settings } from '../config/schema.ts';
import type { MigrationMode } from '../plan/plan.ts';
import { Criu, describeFailure, type CriuRun } from '../criu/driver.ts';
import { criuVersionsOnTheWire, diagnose, failureStatus, olderCriuOnDestination, type Diagnosis } from '../criu/diagnose.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Cell } from '../results/schema.ts';
import type { CpuInfo } from '../criu/cpu-features.ts';
import { Workload } from '../workloads/protocol.ts';
import type { Attempt } from './repeat.ts';
import { nextPidsAbove, pidsFree, placePids } from './pid-placement.ts';
import { moveTree, type Transfer } from './transfer.ts';
import { TransferTamperedError } from './transfer-integrity.ts';
import { EnvironmentError } from '../errors.ts';
import { EXTERNAL_TCP_WORKLOAD, ExternalPeer, type ExternalPeerOptions } from './migration-tcp.ts';
import { NetworkContinuityError } from './service-address.ts';
import { poll } from '../util/wait-until.ts';
import { Timeline, runEnding } from './timeline.ts';

/**
 * Where a migration's workload lives on every node: the same path on the
 * source and the destination (a namespace node's work directory is
 * /run/criu-compat, a VM session's /run/criu-compat/SESSION), because CRIU
 * restores open files and the executable by path.
 */
export const MIGRATION_BASE = '/run/criu-compat/migration';

/** A pool's node in migrations: its session and its own CRIU. */
export interface MigrationNode {
  pool: string;
  env: Environment;
  criu: Criu;
  /** The node image's CRIU version: a restore that fails on an older CRIU says so. */
  criuVersion?: string | null | undefined;
  /** The node's CPU (model, flags): a CPU diagnosis names what the destination lacks. */
  cpu?: CpuInfo | null | undefined;
}

export interface MigrationCase {
  check: string;
  workload: string;
  args: string[];
  mode: MigrationMode;
  sizeMiB?: number;
  /** mode runtime: the container runtime that carries the workload (podman export/import, runc checkpoint/restore). */
  runtime?: 'podman' | 'runc';
}

/** The runtimes mode `runtime` drives, a cell each (see migration-runtime.ts). */
const RUNTIMES_OF_MODE = ['podman', 'runc'] as const;

/** The cells of one pair: each workload in each mode, named "WORKLOAD/MODE → DESTINATION". */
export function migrationCases(pair: { destination: string; workloads: readonly string[]; modes: readonly MigrationMode[]; dirtyPercent?: number }, bigMemMiB: readonly number[]): MigrationCase[] {
  const out: MigrationCase[] = [];
  for (const w of pair.workloads)
    for (const mode of pair.modes) {
      // cri moves a container of the cri suite's workloads only; a group's other workloads get no cri cell.
      if (mode === 'cri') {
        if ((CRI_MIGRATION_WORKLOADS as readonly string[]).includes(w)) out.push({ check: `${w}/cri → ${pair.destination}`, workload: w, args: [], mode });
      } else if (w === 'big-mem') for (const mib of bigMemMiB) out.push({ check: `big-mem/${mib}MiB/${mode} → ${pair.destination}`, workload: w, args: [String(mib), ...(pair.dirtyPercent ? [String(pair.dirtyPercent)] : [])], mode, sizeMiB: mib });
      else if (mode === 'runtime') for (const runtime of RUNTIMES_OF_MODE) out.push({ check: `${w}/runtime/${runtime} → ${pair.destination}`, workload: w, args: [], mode, runtime });
      else out.push({ check: `${w}/${mode} → ${pair.destination}`, workload: w, args: [], mode });
    }
  return out;
}

export interface MigrationContext {
  source: MigrationNode;
  destination: MigrationNode;
  /** The attempt's directory: the same path on both nodes. */
  dir: string;
  /** The workload binary's path (the same on both nodes). */
  binary: string;
  /** Host directory the images pass through (root-only, removed after each move). */
  transit: string;
  timeouts: Settings['timeouts'];
  /** pre-copy: how many pre-dumps. */
  preDumps: number;
  /** cold's downtime on the same pair and workload, when it ran first: the other modes report theirs relative to it. */
  coldDowntimeMs?: number | undefined;
  /** Tests only: changes the destination's copy after the move, before the restore (a tampered or missing file). */
  tamper?: ((destination: Environment, dir: string) => Promise<void>) | undefined;
  /** Extra environment for the workload (a remedy such as GLIBC_TUNABLES=glibc.pthread.rseq=0). */
  workloadEnv?: Readonly<Record<string, string>> | undefined;
  /** tcp-external: its peer on a third node and its service address (see migration-tcp.ts). */
  externalPeer?: ExternalPeerOptions | undefined;
  signal?: AbortSignal | undefined;
}

/** Why a migration attempt ends before its verdict. */
class Ended extends Error {
  readonly attempt: Partial<Attempt> & Pick<Attempt, 'status' | 'reason'>;
  constructor(a: Partial<Attempt> & Pick<Attempt, 'status' | 'reason'>) {
    super(a.reason);
    this.attempt = a;
  }
}

/**
 * One migration: start and ready on the source → (pre-copy: pre-dumps, each
 * moved while the workload runs on) → final dump on the source (the tree
 * must be gone) → images and the workload's files moved to the same path on
 * the destination → restore there with the destination's CRIU → the
 * workload verifies itself there. A restore that fails on the destination
 * is followed by the playbook's fallback: the same images restored on the
 * source, verified there. The diagonal (one node) is the plain round trip.
 * Never throws for a tuple's failure; throws only when the harness cannot go on.
 */
export async function attemptMigration(c: MigrationCase, x: MigrationContext): Promise<Attempt> {
  const same = x.source.env === x.destination.env;
  const { source: src, destination: dst, dir } = x;
  const durations: Cell['durations'] = { totalMs: 0 };
  const figures: Record<string, number> = {};
  const commands: string[] = [];
  const tl = new Timeline();
  const record = (node: MigrationNode, run: CriuRun): CriuRun => {
    commands.push(`[${node.pool}] ${run.argv.join(' ').replaceAll(`${dir}/`, '')}`);
    const at = Math.max(0, run.argv.indexOf('criu'));
    tl.mark(`[${node.pool}] criu ${run.argv[at + 1] ?? ''} end: ${runEnding(run)}`);
    return run;
  };
  const wlEnv: Record<string, string> = { ...x.workloadEnv, TMPDIR: `${dir}/data` };
  const wl = new Workload(src.env, c.workload, x.binary, `${dir}/out/workload.out`, c.args, wlEnv);
  // tcp-external: a connection to a peer on a third node, bound to a service address, both dumped and restored with --tcp-established.
  const tcp = c.workload === EXTERNAL_TCP_WORKLOAD ? new ExternalPeer(x.externalPeer ?? { network: undefined, guard: '', peerBinary: '', serviceAddress: 'move', hostDir: '' }, src, dst, dir, (l) => commands.push(l)) : undefined;
  const tcpOpts = tcp ? { tcpEstablished: true } : {};
  wl.abortSignal = src.criu.signal = dst.criu.signal = x.signal;
  let where: Workload | undefined;
  let last: CriuRun | undefined;
  let fallback: Attempt['fallback'];
  let kernelLines: string[] = [];
  let lazy: Lazy | undefined;
  const t0 = performance.now();
  let status: Attempt['status'];
  let reason: string;
  try {
    for (const env of same ? [src.env] : [src.env, dst.env]) await env.remove(dir);
    await src.env.makeDir(`${dir}/data`);
    await src.env.makeDir(`${dir}/out`);
    await src.env.makeDir(`${dir}/img`);
    if (c.mode === 'pre-copy') {
      const probe = await src.criu.checkFeature('mem_dirty_track', { timeoutMs: x.timeouts.commandMs });
      if (probe.status === 'SKIP') throw new Ended({ status: 'SKIP', reason: `capability missing on ${src.pool}: mem_dirty_track (memory dirty tracking, needed by pre-copy's pre-dumps)` });
      if (probe.status !== 'PASS') throw new Ended({ status: probe.status, reason: `${src.pool}: ${probe.reason}` });
    }

    if (c.mode === 'lazy') {
      // A lazy restore faults memory in through userfaultfd on the destination.
      const probe = await dst.criu.checkFeature('uffd-noncoop', { timeoutMs: x.timeouts.commandMs });
      if (probe.status === 'SKIP') throw new Ended({ status: 'SKIP', reason: `capability missing on ${dst.pool}: uffd-noncoop (userfaultfd, needed by a lazy restore)` });
      if (probe.status !== 'PASS') throw new Ended({ status: probe.status, reason: `${dst.pool}: ${probe.reason}` });
    }
    // A workload with a peer on a third node (one connection) cannot start twice: its PIDs are placed first.
    if (!same && tcp) await placePids(src.env, dst.env, x.signal);
    if (tcp) Object.assign(wlEnv, await harness(tcp.open(x.timeouts.readyMs)));
    await wl.start();
    tl.mark(`started on ${src.pool}`);
    // CRIU restores the tree with its PIDs: they must be free on the destination too (a namespace node's low PIDs
    // are kernel threads in a VM). Where they are not, the workload starts again in a range free on both nodes.
    if (!same && !tcp && !(await pidsFree(dst.env, wl.pid, 32, x.signal))) {
      await wl.kill();
      await wl.waitGone(2000);
      await placePids(src.env, dst.env, x.signal);
      await wl.start();
    }
    where = wl;
    const ready = await wl.waitReady(x.timeouts.readyMs);
    tl.mark(ready.ok ? 'ready' : ready.alive ? 'not ready' : 'exited before ready');
    if (!ready.ok) throw new Ended({ status: 'ERROR', reason: ready.alive ? `workload ${c.workload} printed no "ready" within ${x.timeouts.readyMs} ms on ${src.pool}` : `workload ${c.workload} exited before it was ready on ${src.pool}` });

    // pre-copy: memory goes over while the workload runs on; only the rest moves during the downtime.
    let parent: string | undefined;
    if (c.mode === 'pre-copy')
      for (let i = 1; i <= x.preDumps; i++) {
        const pre = `pre-${i}`;
        await src.env.makeDir(`${dir}/${pre}`);
        tl.mark(`[${src.pool}] criu pre-dump start (${i})`);
        const run = record(src, await src.criu.preDump({ pid: wl.pid, imagesDir: `${dir}/${pre}`, ...(parent ? { parent: `../${parent}` } : {}), trackMem: true, logFile: 'pre-dump.log', verbosity: 4 }));
        last = run;
        figures[`preDump${i}Ms`] = run.result.durationMs;
        if (!run.ok) throw new Ended({ status: failureStatus(run.diagnoses), reason: `on ${src.pool}: ${describeFailure(`criu pre-dump ${i}`, run, x.timeouts.criuMs)}`, diagnoses: run.diagnoses, logExcerpt: run.excerpt });
        const stats = await readCriuStats(src.env, `${dir}/${pre}`);
        if (stats.criuDump?.pagesWritten !== undefined) figures[`preDump${i}Pages`] = stats.criuDump.pagesWritten;
        if (!same) {
          const moved = await moveTree(src.env, dst.env, `${dir}/${pre}`, `${x.transit}-${pre}`, { signal: x.signal });
          figures[`preDump${i}Bytes`] = moved.bytes;
          figures[`preDump${i}TransferMs`] = moved.ms;
        } else figures[`preDump${i}Bytes`] = await src.env.du(`${dir}/${pre}`);
        parent = pre;
      }

    // page-server and lazy: pages travel over the node network, to or from the address of a node.
    const net = c.mode === 'page-server' || c.mode === 'lazy' ? addressesOf(src, dst, same) : undefined;
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const downFrom = performance.now();
    tl.mark('downtime start');
    if (c.mode === 'page-server') {
      await dst.env.makeDir(`${dir}/img`);
      const ps = record(dst, await dst.criu.pageServer({ imagesDir: `${dir}/img`, port, address: net!.destination, daemon: true, logFile: 'page-server.log', verbosity: 4 }));
      if (!ps.ok) throw new Ended({ status: failureStatus(ps.diagnoses), reason: `on ${dst.pool}: ${describeFailure('criu page-server', ps, x.timeouts.criuMs)}`, diagnoses: ps.diagnoses, logExcerpt: ps.excerpt });
    }
    if (c.mode === 'lazy' && !same) {
      // The frozen source serves its memory until the destination has pulled every page; its dump ends only then.
      lazy = new Lazy(src, dst, x.signal);
      tl.mark(`[${src.pool}] criu dump --lazy-pages start`);
      const served = await lazy.serve({ pid: wl.pid, imagesDir: `${dir}/img`, logFile: 'dump.log', verbosity: 4, ...tcpOpts, lazyPages: true, lazyListen: { address: net!.source, port } }, port, x.timeouts.criuMs);
      durations.dumpMs = figures.freezeMs = performance.now() - downFrom;
      if (served !== true) {
        last = served ? record(src, served) : undefined;
        throw new Ended({ status: served ? failureStatus(served.diagnoses) : 'ERROR', reason: served ? `on ${src.pool}: ${describeFailure('criu dump --lazy-pages', served, x.timeouts.criuMs)}` : `harness: the lazy dump on ${src.pool} neither listened on port ${port} nor ended within ${x.timeouts.criuMs} ms`, diagnoses: served?.diagnoses ?? [], logExcerpt: served?.excerpt ?? [] });
      }
    } else {
      tl.mark(`[${src.pool}] criu dump start`);
      const dump = record(src, await src.criu.dump({ pid: wl.pid, imagesDir: `${dir}/img`, ...(parent ? { parent: `../${parent}`, trackMem: true } : {}), ...(c.mode === 'page-server' ? { pageServer: { address: net!.destination, port } } : {}), ...tcpOpts, logFile: 'dump.log', verbosity: 4 }));
      last = dump;
      durations.dumpMs = figures.freezeMs = dump.result.durationMs;
      if (!dump.ok) {
        const diagnoses = migrationDiagnoses(c.mode, src, dst, dump.diagnoses);
        // A page-server dump that failed over the wire gives the tree back: the source must still be healthy.
        if (c.mode === 'page-server' && !same) fallback = await sourceStillHealthy(src, wl, x);
        throw new Ended({ status: failureStatus(diagnoses), reason: `on ${src.pool}: ${describeFailure('criu dump', dump, x.timeouts.criuMs)}${fallback ? `; fallback on ${src.pool}: ${fallback.reason}` : ''}`, diagnoses, logExcerpt: dump.excerpt });
      }
      if (!(await wl.waitGone(2000))) throw new Ended({ status: 'FAIL', reason: `criu dump exited 0 on ${src.pool} but the process tree is still running`, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt });
    }

    let moved: Transfer;
    tl.mark(`transfer start: ${src.pool} → ${dst.pool}`);
    if (same) moved = { bytes: await src.env.du(dir), files: 0, ms: 0 };
    // A lazy dump still runs (it serves the pages) and writes its log while the images move: that one file is not sealed.
    else if (!parent) moved = await moveTree(src.env, dst.env, dir, x.transit, { signal: x.signal, merge: c.mode === 'page-server', ...(c.mode === 'lazy' ? { live: (rel: string) => rel === 'img/dump.log' } : {}) });
    else {
      // The pre-dumps are there already: only the final images and the workload's files move now.
      moved = { bytes: 0, files: 0, ms: 0 };
      for (const part of ['img', 'data', 'out']) {
        const m = await moveTree(src.env, dst.env, `${dir}/${part}`, `${x.transit}-${part}`, { signal: x.signal });
        moved = { bytes: moved.bytes + m.bytes, files: moved.files + m.files, ms: moved.ms + m.ms, integrityMs: (moved.integrityMs ?? 0) + (m.integrityMs ?? 0) };
      }
    }
    figures.transferBytes = moved.bytes;
    tl.mark(`transfer end: ${moved.bytes} bytes`);
    figures.transferMs = moved.ms;
    if (moved.integrityMs !== undefined) figures.transferIntegrityMs = moved.integrityMs;
    await x.tamper?.(dst.env, dir);
    if (tcp) await harness(tcp.handOver());

    // lazy: the destination's lazy-pages daemon fetches from the source (or, on one node, from the images), the restore faults memory in through it.
    if (c.mode === 'lazy') {
      lazy ??= new Lazy(src, dst, x.signal);
      const up = await lazy.daemon({ imagesDir: `${dir}/img`, logFile: 'lazy-pages.log', verbosity: 4, ...(same ? {} : { from: { address: net!.source, port } }) }, x.timeouts.criuMs);
      if (up !== true) {
        const stopped = await lazy.stop();
        last = up ? record(dst, up) : stopped.daemon;
        throw new Ended({ status: up ? failureStatus(up.diagnoses) : 'ERROR', reason: up ? `on ${dst.pool}: ${describeFailure('criu lazy-pages', up, x.timeouts.criuMs)}` : `harness: the lazy-pages daemon on ${dst.pool} made no socket within ${x.timeouts.criuMs} ms`, diagnoses: up?.diagnoses ?? [], logExcerpt: up?.excerpt ?? [] });
      }
    }
    // What ran on the destination since the PIDs were checked (the transfer's integrity check: find, sha256sum) can
    // leave a child that its node's init has not reaped yet: wait (briefly) until the tree's PIDs are free again.
    // And the destination's next PIDs must not fall into the tree's range: CRIU itself (and its helpers) would take them.
    if (!same) {
      await poll(async () => ((await pidsFree(dst.env, wl.pid, 32, x.signal)) ? true : undefined), { timeoutMs: 3000, intervalMs: 50, signal: x.signal });
      await nextPidsAbove(dst.env, wl.pid + 64, x.signal);
    }
    tl.mark(`[${dst.pool}] criu restore start`);
    const restore = record(dst, await dst.criu.restore({ detach: true, imagesDir: `${dir}/img`, ...(c.mode === 'lazy' ? { lazyPages: true } : {}), ...tcpOpts, logFile: 'restore.log', verbosity: 4 }, { cpu: { source: src.cpu, destination: dst.cpu } }));
    last = restore;
    durations.restoreMs = figures.restoreMs = restore.result.durationMs;
    figures.downtimeMs = performance.now() - downFrom;
    if (x.coldDowntimeMs && c.mode !== 'cold') figures.downtimeVsCold = figures.downtimeMs / x.coldDowntimeMs;
    if (!restore.ok) {
      const why = `on ${dst.pool}: ${describeFailure('criu restore', restore, x.timeouts.criuMs)}${tcp?.explain() ?? ''}`;
      let sourceSide: CriuRun | undefined;
      if (lazy) {
        // A lazy transfer that fails unfreezes the source tree: the fallback is that tree, still healthy.
        sourceSide = (await lazy.stop()).dump;
        if (sourceSide) record(src, sourceSide);
        fallback = same ? undefined : await sourceStillHealthy(src, wl, x);
      } else {
        // page-server: the pages are on the destination; the fallback takes them back first.
        fallback = same ? undefined : await tryFallback(src, dir, wl, x, record, sourceFirst, tcp);
        if (fallback && tcp) fallback = tcp.explainFallback(fallback, restore.text);
      }
      // What the source said matters as much: a lazy source that could not serve its pages.
      const diagnoses = migrationDiagnoses(c.mode, src, dst, [...restore.diagnoses, ...(sourceSide?.diagnoses ?? [])]);
      if (sourceSide && !sourceSide.ok) restore.excerpt.push(`--- source (${src.pool}) criu dump --lazy-pages:`, ...sourceSide.excerpt);
      throw new Ended({ status: failureStatus(diagnoses), reason: `${why}${fallback ? `; fallback on ${src.pool}: ${fallback.status === 'PASS' ? (lazy ? 'the source tree, unfrozen, verified itself — the pair is incompatible, the source is not broken' : 'the same images restore there and the workload verified itself — the pair is incompatible, the source is not broken') : fallback.reason}` : ''}`, diagnoses, logExcerpt: restore.excerpt });
    }

    where = wl.movedTo(dst.env);
    const v0 = performance.now();
    tl.mark(`verify start on ${dst.pool}`);
    // A lazily restored workload checks memory that still comes over the network, page by page at CRIU's pace: its window is CRIU's.
    const verifyMs = lazy ? Math.max(x.timeouts.verifyMs, x.timeouts.criuMs) : x.timeouts.verifyMs;
    const own = await where.verdict(verifyMs);
    tl.mark(`verify end: ${own.status}`);
    // The peer outside the tree checks every byte it receives: its FAIL is the cell's.
    const peerSaid = own.status === 'PASS' ? await tcp?.peerFailure() : undefined;
    const verdict = peerSaid ? { status: 'FAIL' as const, message: `its peer on the client node: ${peerSaid}` } : own;
    durations.verifyMs = performance.now() - v0;
    if (verdict.status === 'PASS') {
      status = 'PASS';
      reason = same ? `round trip on ${src.pool}: the restored workload verified its own state` : `the workload restored on ${dst.pool} verified its own state`;
    } else {
      status = 'FAIL';
      const died = verdict.status !== 'FAIL' && !verdict.alive;
      const kernel = died ? await kernelSaid(dst.env, c.workload, wl.pid) : [];
      reason = `restored on ${dst.pool}: ${verdict.status === 'FAIL' ? verdict.message : verdict.alive ? `no verdict within ${verifyMs} ms` : `died without a verdict${kernel.length ? ` (${kernel[kernel.length - 1]})` : ''}`}`;
      if (kernel.length) kernelLines = kernel;
      // The playbook's fallback applies as much as when CRIU itself failed: the workload is not alive and well on the destination.
      if (!same) {
        await where.kill();
        fallback = lazy ? await sourceStillHealthy(src, wl, x) : await tryFallback(src, dir, wl, x, record, sourceFirst, tcp);
        reason += `; fallback on ${src.pool}: ${fallback.status === 'PASS' ? 'the same images restore there and the workload verified itself — the pair is incompatible, the source is not broken' : fallback.reason}`;
      }
    }
    if (lazy) {
      // Both end on their own once every page went over; what did not is stopped and said.
      const ended = await lazy.finish(x.timeouts.criuMs);
      if (ended.dump) record(src, ended.dump);
      if (ended.daemon) record(dst, ended.daemon);
      if (status === 'PASS' && !ended.ok) {
        status = 'FAIL';
        reason = `the workload verified itself on ${dst.pool}, but the lazy transfer did not end cleanly: ${ended.why}`;
      }
    }
    const out = (await where.lines()).join('\n');
    const stall = /^info: max_stall_us=(\d+)$/m.exec(out);
    if (stall) figures.observedStallMs = Number(stall[1]) / 1000;
    // What the destination's kernel said of a task that died is evidence as much as CRIU's log.
    const skew = status === 'PASS' ? undefined : olderCriuOnDestination(src, dst);
    const diagnoses = [...(skew ? [skew] : []), ...(kernelLines.length ? diagnose({ text: kernelLines.join('\n'), cpu: { source: src.cpu, destination: dst.cpu } }) : []), ...last.diagnoses];
    return await finish({ status, reason, diagnoses, logExcerpt: status === 'PASS' ? [] : [...last.excerpt, ...kernelLines] });
  } catch (e) {
    // A transfer refused by its integrity check: nothing was restored; the environment, not the tuple, is to blame.
    if (e instanceof TransferTamperedError) return finish({ status: 'ERROR', reason: e.message, diagnoses: [e.diagnosis], logExcerpt: [] });
    if (!(e instanceof Ended)) {
      await lazy?.stop().catch(() => undefined);
      await cleanup().catch(() => undefined);
      await tcp?.close();
      throw e;
    }
    return finish({ diagnoses: [], logExcerpt: [], ...e.attempt });
  }

  /** The connection's set-up and hand-over failing is the harness's or the node's problem: ERROR, never the tuple's FAIL. */
  async function harness<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof NetworkContinuityError || e instanceof EnvironmentError) throw new Ended({ status: 'ERROR', reason: `harness: ${(e as Error).message}` });
      throw e;
    }
  }

  /** What the fallback needs back on the source first: page-server's pages, tcp-external's service address. */
  async function sourceFirst(): Promise<void> {
    if (c.mode === 'page-server') await takePagesBack(dst, src, dir, x);
    await tcp?.backToSource();
  }

  async function finish(a: Partial<Attempt> & Pick<Attempt, 'status' | 'reason'>): Promise<Attempt> {
    if (fallback) tl.mark(`fallback on ${src.pool}: ${fallback.status}`);
    tl.mark(`verdict ${a.status}`);
    tl.mark('cleanup start');
    await lazy?.stop(); // nothing of a lazy transfer outlives its cell
    durations.totalMs = performance.now() - t0;
    const shown = where ?? wl;
    const output = [...(where || wl.pid ? await shown.lines() : []), ...(tcp ? (await tcp.peerLines()).map((l) => `peer: ${l}`) : [])];
    const stats = where === wl ? await readCriuStats(src.env, `${dir}/img`) : await readCriuStats(dst.env, `${dir}/img`);
    // A workload that verified itself has exited; anything else may still run somewhere.
    if (a.status !== 'PASS') await cleanup();
    await tcp?.close();
    const imageBytes = await src.env.du(`${dir}/img`).catch(() => undefined);
    tl.mark('cleanup end');
    return {
      timeline: tl.events,
      status: a.status,
      reason: a.reason,
      durations,
      metrics: { ...(imageBytes ? { imageBytes } : {}), ...stats, ...(Object.keys(figures).length ? { migration: figures } : {}) },
      diagnoses: a.diagnoses ?? [],
      logExcerpt: a.logExcerpt ?? [],
      commands,
      workloadOutput: output,
      ...(fallback ? { fallback } : {}),
    };
  }

  /** Whatever runs still, on either node, is killed: a verified workload exits by itself, a failed one may not. */
  async function cleanup(): Promise<void> {
    if (!wl.pid) return;
    await wl.kill();
    if (!same) await wl.movedTo(dst.env).kill();
  }
}

/**
 * A migration's diagnoses: the commands' own, plus what the pair itself
 * explains — an older CRIU on the destination, or (page-server, lazy) two
 * CRIU versions talking over the wire, whose page-transfer protocols need
 * not match: then a stall there is that, not a slow host.
 */
function migrationDiagnoses(mode: MigrationMode, src: MigrationNode, dst: MigrationNode, own: readonly Diagnosis[]): Diagnosis[] {
  const wire = mode === 'page-server' || mode === 'lazy' ? criuVersionsOnTheWire(src, dst) : undefined;
  const older = olderCriuOnDestination(src, dst);
  const out = [...(wire ? [wire] : []), ...(older ? [older] : []), ...own];
  return wire ? out.filter((d) => d.id !== 'criu-slow-not-hung') : out;
}

/** The addresses pages travel between: each node's on the run's network (one node: its own, or loopback without a network). */
function addressesOf(src: MigrationNode, dst: MigrationNode, same: boolean): { source: string; destination: string } {
  if (same) {
    const a = src.env.network?.address ?? '127.0.0.1';
    return { source: a, destination: a };
  }
  const [a, b] = [src.env.network?.address, dst.env.network?.address];
  if (!a || !b) throw new Error(`no node network address on ${a ? dst.pool : src.pool}: the run made no node network (a harness bug: page-server and lazy pairs ask for one)`);
  return { source: a, destination: b };
}

/**
 * The two background commands of a lazy migration: the source's
 * `criu dump --lazy-pages` (it serves the frozen tree's memory and ends once
 * everything was pulled) and the destination's `criu lazy-pages` daemon
 * (it ends once the restored tree has all its memory). Each has its own
 * cancellation; stop() ends whatever still runs.
 */
class Lazy {
  private readonly ctl = new AbortController();
  private dumping?: { result: Promise<CriuRun | undefined>; done?: CriuRun | undefined };
  private serving?: { result: Promise<CriuRun | undefined>; done?: CriuRun | undefined };
  private readonly src: MigrationNode;
  private readonly dst: MigrationNode;

  constructor(src: MigrationNode, dst: MigrationNode, signal: AbortSignal | undefined) {
    this.src = src;
    this.dst = dst;
    signal?.addEventListener('abort', () => this.ctl.abort(), { once: true });
  }

  private start(criu: Criu, run: (c: Criu) => Promise<CriuRun>, timeoutMs: number) {
    const slot: { result: Promise<CriuRun | undefined>; done?: CriuRun | undefined } = { result: Promise.resolve(undefined) };
    slot.result = run(criu.alongside(this.ctl.signal, 4 * timeoutMs)).then(
      (r) => (slot.done = r),
      () => undefined,
    );
    return slot;
  }

  /** Starts the lazy dump; true once it listens, else how it ended (undefined: it did neither in time). */
  async serve(o: Parameters<Criu['dump']>[0], port: number, timeoutMs: number): Promise<true | CriuRun | undefined> {
    const slot = this.start(this.src.criu, (c) => c.dump(o), timeoutMs);
    this.dumping = slot;
    const listening = await this.src.env.network?.waitListening(port, { timeoutMs, stopIf: () => slot.done !== undefined, signal: this.ctl.signal });
    if (listening) return true;
    if (!slot.done) await this.stop();
    return slot.done;
  }

  /** Starts the destination's daemon; true once its socket is there, else how it ended. */
  async daemon(o: Parameters<Criu['lazyPages']>[0], timeoutMs: number): Promise<true | CriuRun | undefined> {
    const slot = this.start(this.dst.criu, (c) => c.lazyPages(o), timeoutMs);
    this.serving = slot;
    const socket = await poll(async () => ((await this.dst.env.exec(['test', '-S', `${o.imagesDir}/lazy-pages.socket`], { timeoutMs: 10_000 })).exitCode === 0 ? true : slot.done ? false : undefined), { intervalMs: 20, timeoutMs, signal: this.ctl.signal });
    return socket ? true : slot.done;
  }

  /** Waits (bounded) for both to end by themselves; ok when both exited 0. */
  async finish(timeoutMs: number): Promise<{ ok: boolean; why: string; dump?: CriuRun | undefined; daemon?: CriuRun | undefined }> {
    const both = Promise.all([this.dumping?.result, this.serving?.result]);
    await Promise.race([both, new Promise((r) => setTimeout(r, timeoutMs))]);
    const [d, l] = [this.dumping?.done, this.serving?.done];
    await this.stop();
    const why = [this.dumping && !d ? 'the source still served pages' : d && !d.ok ? `the lazy dump exited ${d.result.exitCode}` : '', this.serving && !l ? 'the lazy-pages daemon still ran' : l && !l.ok ? `the lazy-pages daemon exited ${l.result.exitCode}` : ''].filter(Boolean).join('; ');
    return { ok: why === '', why, dump: d, daemon: l };
  }

  /** Ends whatever still runs; returns how each ended. */
  async stop(): Promise<{ dump?: CriuRun | undefined; daemon?: CriuRun | undefined }> {
    this.ctl.abort();
    await Promise.all([this.dumping?.result, this.serving?.result]);
    return { dump: this.dumping?.done, daemon: this.serving?.done };
  }
}

/** page-server's images are split: the pages are on the destination. The fallback brings them back beside the rest. */
function takePagesBack(dst: MigrationNode, src: MigrationNode, dir: string, x: MigrationContext): Promise<Transfer> {
  return moveTree(dst.env, src.env, `${dir}/img`, `${x.transit}-back`, { signal: x.signal, merge: true });
}

/** lazy's fallback: the source tree, unfrozen by the failed transfer, verifies itself where it is. */
async function sourceStillHealthy(src: MigrationNode, wl: Workload, x: MigrationContext): Promise<NonNullable<Attempt['fallback']>> {
  if (!(await wl.alive())) return { status: 'FAIL', reason: `the source tree is gone from ${src.pool} (the lazy dump did not give it back)` };
  const v = await wl.verdict(x.timeouts.verifyMs);
  if (v.status === 'PASS') return { status: 'PASS', reason: `the source tree on ${src.pool}, unfrozen, verified its own state` };
  return { status: 'FAIL', reason: `the source tree on ${src.pool}: ${v.status === 'FAIL' ? v.message : 'no verdict'}` };
}

/** What the destination's kernel logged about the restored task (a segfault, a control-protection fault…). */
async function kernelSaid(env: Environment, name: string, pid: number): Promise<string[]> {
  const r = await env.exec(['dmesg'], { timeoutMs: 10_000 }).catch(() => undefined);
  if (!r || r.exitCode !== 0) return [];
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(`[${pid}]`) && l.includes(name.slice(0, 15)))
    .slice(-5)
    .map((l) => `kernel: ${l.trim().replace(/^\[\s*[\d.]+\]\s*/, '')}`);
}

/** The playbook's fallback: restore the same images on the source and let the workload verify itself there. */
async function tryFallback(src: MigrationNode, dir: string, wl: Workload, x: MigrationContext, record: (n: MigrationNode, r: CriuRun) => CriuRun, before?: () => Promise<unknown>, tcp?: ExternalPeer): Promise<NonNullable<Attempt['fallback']>> {
  await before?.();
  const run = record(src, await src.criu.restore({ detach: true, imagesDir: `${dir}/img`, ...(tcp ? { tcpEstablished: true } : {}), logFile: 'restore-fallback.log', verbosity: 4 }));
  if (!run.ok) return { status: failureStatus(run.diagnoses), reason: `the images do not restore on the source either: ${describeFailure('criu restore', run, x.timeouts.criuMs)}` };
  const v = await wl.verdict(x.timeouts.verifyMs);
  const peer = v.status === 'PASS' ? await tcp?.peerFailure() : undefined;
  if (peer) return { status: 'FAIL', reason: `restored on ${src.pool}, but its peer on the client node says: ${peer}` };
  if (v.status === 'PASS') return { status: 'PASS', reason: `restored on ${src.pool} from the same images; the workload verified its own state there${tcp ? ' (its connection to the peer on the third node included)' : ''}` };
  return { status: 'FAIL', reason: `restored on ${src.pool}, but ${v.status === 'FAIL' ? v.message : 'the workload gave no verdict'}` };
}
