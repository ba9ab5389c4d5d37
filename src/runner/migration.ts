import type { Settings } from '../config/schema.ts';
import type { MigrationMode } from '../plan/plan.ts';
import { Criu, describeFailure, type CriuRun } from '../criu/driver.ts';
import { diagnose, failureStatus, olderCriuOnDestination } from '../criu/diagnose.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Cell } from '../results/schema.ts';
import { Workload } from '../workloads/protocol.ts';
import type { Attempt } from './repeat.ts';
import { moveTree, type Transfer } from './transfer.ts';

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
}

export interface MigrationCase {
  check: string;
  workload: string;
  args: string[];
  mode: MigrationMode;
  sizeMiB?: number;
}

/** The cells of one pair: each workload in each mode, named "WORKLOAD/MODE → DESTINATION". */
export function migrationCases(pair: { destination: string; workloads: readonly string[]; modes: readonly MigrationMode[] }, bigMemMiB: readonly number[]): MigrationCase[] {
  const out: MigrationCase[] = [];
  for (const w of pair.workloads)
    for (const mode of pair.modes) {
      if (w === 'big-mem') for (const mib of bigMemMiB) out.push({ check: `big-mem/${mib}MiB/${mode} → ${pair.destination}`, workload: w, args: [String(mib)], mode, sizeMiB: mib });
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
  const record = (node: MigrationNode, run: CriuRun): CriuRun => {
    commands.push(`[${node.pool}] ${run.argv.join(' ').replaceAll(`${dir}/`, '')}`);
    return run;
  };
  const wl = new Workload(src.env, c.workload, x.binary, `${dir}/out/workload.out`, c.args, { TMPDIR: `${dir}/data` });
  wl.abortSignal = src.criu.signal = dst.criu.signal = x.signal;
  let where: Workload | undefined;
  let last: CriuRun | undefined;
  let fallback: Attempt['fallback'];
  let kernelLines: string[] = [];
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
    if (c.mode === 'page-server' || c.mode === 'lazy') throw new Ended({ status: 'SKIP', reason: `capability missing: a network path between ${src.pool} and ${dst.pool} (mode ${c.mode} is not wired to a node network in this build)` });

    if (!same) await placePids(src.env, dst.env, x.signal);
    await wl.start();
    where = wl;
    const ready = await wl.waitReady(x.timeouts.readyMs);
    if (!ready.ok) throw new Ended({ status: 'ERROR', reason: ready.alive ? `workload ${c.workload} printed no "ready" within ${x.timeouts.readyMs} ms on ${src.pool}` : `workload ${c.workload} exited before it was ready on ${src.pool}` });

    // pre-copy: memory goes over while the workload runs on; only the rest moves during the downtime.
    let parent: string | undefined;
    if (c.mode === 'pre-copy')
      for (let i = 1; i <= x.preDumps; i++) {
        const pre = `pre-${i}`;
        await src.env.makeDir(`${dir}/${pre}`);
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

    const downFrom = performance.now();
    const dump = record(src, await src.criu.dump({ pid: wl.pid, imagesDir: `${dir}/img`, ...(parent ? { parent: `../${parent}`, trackMem: true } : {}), logFile: 'dump.log', verbosity: 4 }));
    last = dump;
    durations.dumpMs = figures.freezeMs = dump.result.durationMs;
    if (!dump.ok) throw new Ended({ status: failureStatus(dump.diagnoses), reason: `on ${src.pool}: ${describeFailure('criu dump', dump, x.timeouts.criuMs)}`, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt });
    if (!(await wl.waitGone(2000))) throw new Ended({ status: 'FAIL', reason: `criu dump exited 0 on ${src.pool} but the process tree is still running`, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt });
    // Restoring on the same node needs the PID itself back, not only the process gone: its zombie must be reaped too.
    if (same) await reaped(src.env, wl.pid, x.signal);

    let moved: Transfer;
    if (same) moved = { bytes: await src.env.du(dir), files: 0, ms: 0 };
    else if (!parent) moved = await moveTree(src.env, dst.env, dir, x.transit, { signal: x.signal });
    else {
      // The pre-dumps are there already: only the final images and the workload's files move now.
      moved = { bytes: 0, files: 0, ms: 0 };
      for (const part of ['img', 'data', 'out']) {
        const m = await moveTree(src.env, dst.env, `${dir}/${part}`, `${x.transit}-${part}`, { signal: x.signal });
        moved = { bytes: moved.bytes + m.bytes, files: moved.files + m.files, ms: moved.ms + m.ms };
      }
    }
    figures.transferBytes = moved.bytes;
    figures.transferMs = moved.ms;
    await x.tamper?.(dst.env, dir);

    const restore = record(dst, await dst.criu.restore({ detach: true, imagesDir: `${dir}/img`, logFile: 'restore.log', verbosity: 4 }));
    last = restore;
    durations.restoreMs = figures.restoreMs = restore.result.durationMs;
    figures.downtimeMs = performance.now() - downFrom;
    if (x.coldDowntimeMs && c.mode !== 'cold') figures.downtimeVsCold = figures.downtimeMs / x.coldDowntimeMs;
    if (!restore.ok) {
      const why = `on ${dst.pool}: ${describeFailure('criu restore', restore, x.timeouts.criuMs)}`;
      fallback = same ? undefined : await tryFallback(src, dir, wl, x, record);
      const skew = olderCriuOnDestination(src, dst);
      const diagnoses = skew ? [skew, ...restore.diagnoses] : restore.diagnoses;
      throw new Ended({ status: failureStatus(diagnoses), reason: `${why}${fallback ? `; fallback on ${src.pool}: ${fallback.status === 'PASS' ? 'the same images restore there and the workload verified itself — the pair is incompatible, the source is not broken' : fallback.reason}` : ''}`, diagnoses, logExcerpt: restore.excerpt });
    }

    where = wl.movedTo(dst.env);
    const v0 = performance.now();
    const verdict = await where.verdict(x.timeouts.verifyMs);
    durations.verifyMs = performance.now() - v0;
    if (verdict.status === 'PASS') {
      status = 'PASS';
      reason = same ? `round trip on ${src.pool}: the restored workload verified its own state` : `the workload restored on ${dst.pool} verified its own state`;
    } else {
      status = 'FAIL';
      const died = verdict.status !== 'FAIL' && !verdict.alive;
      const kernel = died ? await kernelSaid(dst.env, c.workload, wl.pid) : [];
      reason = `restored on ${dst.pool}: ${verdict.status === 'FAIL' ? verdict.message : verdict.alive ? `no verdict within ${x.timeouts.verifyMs} ms` : `died without a verdict${kernel.length ? ` (${kernel[kernel.length - 1]})` : ''}`}`;
      if (kernel.length) kernelLines = kernel;
      // The playbook's fallback applies as much as when CRIU itself failed: the workload is not alive and well on the destination.
      if (!same) {
        await where.kill();
        fallback = await tryFallback(src, dir, wl, x, record);
        reason += `; fallback on ${src.pool}: ${fallback.status === 'PASS' ? 'the same images restore there and the workload verified itself — the pair is incompatible, the source is not broken' : fallback.reason}`;
      }
    }
    const out = (await where.lines()).join('\n');
    const stall = /^info: max_stall_us=(\d+)$/m.exec(out);
    if (stall) figures.observedStallMs = Number(stall[1]) / 1000;
    // What the destination's kernel said of a task that died is evidence as much as CRIU's log.
    const skew = status === 'PASS' ? undefined : olderCriuOnDestination(src, dst);
    const diagnoses = [...(skew ? [skew] : []), ...(kernelLines.length ? diagnose({ text: kernelLines.join('\n') }) : []), ...last.diagnoses];
    return await finish({ status, reason, diagnoses, logExcerpt: status === 'PASS' ? [] : [...last.excerpt, ...kernelLines] });
  } catch (e) {
    if (!(e instanceof Ended)) {
      await cleanup().catch(() => undefined);
      throw e;
    }
    return finish({ diagnoses: [], logExcerpt: [], ...e.attempt });
  }

  async function finish(a: Partial<Attempt> & Pick<Attempt, 'status' | 'reason'>): Promise<Attempt> {
    durations.totalMs = performance.now() - t0;
    const shown = where ?? wl;
    const output = where || wl.pid ? await shown.lines() : [];
    const stats = where === wl ? await readCriuStats(src.env, `${dir}/img`) : await readCriuStats(dst.env, `${dir}/img`);
    // A workload that verified itself has exited; anything else may still run somewhere.
    if (a.status !== 'PASS') await cleanup();
    const imageBytes = await src.env.du(`${dir}/img`).catch(() => undefined);
    return {
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

/** Waits (up to 5 s) until no process, not even a zombie, holds PID on the node: CRIU restores the tree with its PIDs. */
async function reaped(env: Environment, pid: number, signal: AbortSignal | undefined): Promise<void> {
  await env.exec(['sh', '-c', 'i=0; while [ -e /proc/$1 ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done', 'reaped', String(pid)], { timeoutMs: 10_000, signal });
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

/**
 * CRIU restores every task with its PID. A workload that got a low PID in a
 * namespace node finds it taken on a VM (by a kernel thread or the agent):
 * the harness starts it where the PIDs are free on both nodes, as an
 * operator restores into a fresh PID namespace. The source's next PID is set
 * to a random free number between 10000 and 30000 (below every pid_max).
 */
async function placePids(src: Environment, dst: Environment, signal: AbortSignal | undefined): Promise<void> {
  for (let tries = 0; tries < 20; tries++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    const free = await dst.exec(['sh', '-c', 'for p in $(seq "$1" "$2"); do [ -e /proc/$p ] && exit 1; done; exit 0', 'pids-free', String(base), String(base + 64)], { timeoutMs: 10_000, signal });
    if (free.exitCode !== 0) continue;
    // The source's kernel skips PIDs in use there by itself.
    const r = await src.exec(['sh', '-c', 'echo "$1" > /proc/sys/kernel/ns_last_pid', 'set-last-pid', String(base)], { timeoutMs: 10_000, signal });
    if (r.exitCode !== 0) throw new Error(`environment ${src.id}: cannot set the next PID (/proc/sys/kernel/ns_last_pid): ${r.stderr.trim()}`);
    return;
  }
  throw new Error(`no free PID range found on ${dst.id} in 20 tries`);
}

/** The playbook's fallback: restore the same images on the source and let the workload verify itself there. */
async function tryFallback(src: MigrationNode, dir: string, wl: Workload, x: MigrationContext, record: (n: MigrationNode, r: CriuRun) => CriuRun): Promise<NonNullable<Attempt['fallback']>> {
  await reaped(src.env, wl.pid, x.signal);
  const run = record(src, await src.criu.restore({ detach: true, imagesDir: `${dir}/img`, logFile: 'restore-fallback.log', verbosity: 4 }));
  if (!run.ok) return { status: failureStatus(run.diagnoses), reason: `the images do not restore on the source either: ${describeFailure('criu restore', run, x.timeouts.criuMs)}` };
  const v = await wl.verdict(x.timeouts.verifyMs);
  if (v.status === 'PASS') return { status: 'PASS', reason: `restored on ${src.pool} from the same images; the workload verified its own state there` };
  return { status: 'FAIL', reason: `restored on ${src.pool}, but ${v.status === 'FAIL' ? v.message : 'the workload gave no verdict'}` };
}
