import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '../../config/schema.ts';
import { failureStatus } from '../../criu/diagnose.ts';
import { describeFailure, type Criu } from '../../criu/driver.ts';
import type { Environment } from '../../environments/environment.ts';
import { Workload } from '../../workloads/protocol.ts';
import type { CellDraft } from '../cell.ts';
import { TransferTamperedError } from '../transfer-integrity.ts';
import { moveTree } from '../transfer.ts';

export interface TransferCheckContext {
  source: { env: Environment; criu: Criu };
  destination: { env: Environment; criu: Criu };
  /** The workload moved (small: a VM's channel and sha256sum under TCG cost seconds per MiB). */
  workload: string;
  /** Its fixture on the host: copied into the moved directory, so it is at the same path on both nodes. */
  hostBinary: string;
  /** The same path on both nodes (under the source's work directory). */
  dir: string;
  /** Host transit directory prefix (root-only, removed after each move). */
  transit: string;
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
}

/**
 * transfer-integrity: the same move as a migration's (moveTree: sealed
 * SHA-256 manifest on the source, checked on the destination). First a
 * control: a checkpoint of a small workload (threads) moved untouched must pass the check and
 * restore on the other node, verifying itself there (a check that refuses
 * everything proves nothing). Then a second checkpoint has one byte of its
 * largest pages image flipped in transit: the move must be refused
 * (TransferTamperedError) and nothing restored. PASS only for both.
 */
export async function transferIntegrity(x: TransferCheckContext): Promise<CellDraft> {
  const t0 = performance.now();
  const commands: string[] = [];
  const security: Record<string, string | number | boolean> = {};
  const both = [x.source.env, x.destination.env];
  const clean = async () => {
    for (const e of new Set(both)) await e.remove(x.dir).catch(() => undefined);
  };
  const took = () => ({ totalMs: performance.now() - t0 });
  let running: Workload[] = [];
  try {
    // The control.
    const a = await checkpointCounter(x, 'control', commands);
    running = [a.wl];
    if ('ending' in a) return { ...a.ending, durations: took(), commands };
    let moved;
    try {
      moved = await moveTree(x.source.env, x.destination.env, x.dir, `${x.transit}-control`, { signal: x.signal });
    } catch (e) {
      if (e instanceof TransferTamperedError) return { status: 'ERROR', reason: `harness: the untouched control move was refused: ${e.message}`, durations: took(), diagnoses: [e.diagnosis], commands };
      throw e;
    }
    security.controlBytes = moved.bytes;
    security.controlFiles = moved.files;
    security.integrityMs = Math.round(moved.integrityMs ?? 0);
    const restore = await x.destination.criu.restore({ detach: true, imagesDir: `${x.dir}/img`, logFile: 'restore.log', verbosity: 4 });
    commands.push(`[destination] ${restore.argv.join(' ').replaceAll(`${x.dir}/`, '')}`);
    if (!restore.ok) return { status: failureStatus(restore.diagnoses), reason: `the control (an untouched move) did not restore: ${describeFailure('criu restore', restore, x.timeouts.criuMs)}`, durations: took(), diagnoses: restore.diagnoses, logExcerpt: restore.excerpt, commands };
    const there = a.wl.movedTo(x.destination.env);
    running = [there];
    const v = await there.verdict(x.timeouts.verifyMs);
    if (v.status !== 'PASS') return { status: 'ERROR', reason: `the control (an untouched move) restored but did not verify: ${v.status === 'FAIL' ? v.message : 'no verdict'}`, durations: took(), commands, workloadOutput: await there.lines() };
    security.controlVerified = true;
    await there.kill();
    running = [];
    await clean();

    // The tampered move.
    const b = await checkpointCounter(x, 'tampered', commands);
    running = [b.wl];
    if ('ending' in b) return { ...b.ending, durations: took(), commands };
    let flipped = '';
    try {
      await moveTree(x.source.env, x.destination.env, x.dir, `${x.transit}-tampered`, {
        signal: x.signal,
        inTransit: async (host) => {
          flipped = await flipOneByte(join(host, 'img'));
        },
      });
    } catch (e) {
      if (!(e instanceof TransferTamperedError)) throw e;
      security.tamperedFile = flipped;
      security.refused = true;
      const named = e.problems.some((p) => p.startsWith(`img/${flipped}`));
      if (!named) return { status: 'ERROR', reason: `harness: the move was refused, but not for the byte flipped in img/${flipped}: ${e.message}`, durations: took(), metrics: { security }, commands };
      return {
        status: 'PASS',
        reason: `an untouched move passed the check and restored (verified on the destination); one byte flipped in img/${flipped} in transit was refused before any restore (${e.problems[0]})`,
        durations: took(),
        metrics: { security },
        diagnoses: [e.diagnosis],
        commands,
      };
    }
    security.refused = false;
    return { status: 'FAIL', reason: `one byte flipped in img/${flipped} in transit passed the transfer check: a modified checkpoint would have been restored (not restored here)`, durations: took(), metrics: { security }, commands };
  } finally {
    for (const w of running) await w.kill().catch(() => undefined);
    await clean();
  }
}

/** Starts the workload from the moved directory and dumps it there; an ending when that fails. */
async function checkpointCounter(x: TransferCheckContext, what: string, commands: string[]): Promise<{ wl: Workload } | { wl: Workload; ending: Pick<CellDraft, 'status' | 'reason' | 'diagnoses' | 'logExcerpt'> }> {
  const env = x.source.env;
  for (const d of ['bin', 'out', 'img']) await env.makeDir(`${x.dir}/${d}`);
  await env.copyIn(x.hostBinary, `${x.dir}/bin/${x.workload}`);
  const wl = new Workload(env, x.workload, `${x.dir}/bin/${x.workload}`, `${x.dir}/out/${x.workload}.out`);
  wl.abortSignal = x.source.criu.signal = x.destination.criu.signal = x.signal;
  await wl.start();
  const up = await wl.waitReady(x.timeouts.readyMs);
  if (!up.ok) return { wl, ending: { status: 'ERROR', reason: `${what}: ${x.workload} printed no "ready" within ${x.timeouts.readyMs} ms` } };
  const dump = await x.source.criu.dump({ pid: wl.pid, imagesDir: `${x.dir}/img`, logFile: 'dump.log', verbosity: 4 });
  commands.push(`[source] ${dump.argv.join(' ').replaceAll(`${x.dir}/`, '')}`);
  if (!dump.ok) return { wl, ending: { status: failureStatus(dump.diagnoses), reason: `${what}: nothing to move: ${describeFailure('criu dump', dump, x.timeouts.criuMs)}`, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt } };
  if (!(await wl.waitGone(2000))) return { wl, ending: { status: 'FAIL', reason: `${what}: criu dump exited 0 but ${x.workload} still runs` } };
  return { wl };
}

/** Flips the middle byte of the largest pages-*.img under DIR (a host copy); returns its name. */
export async function flipOneByte(dir: string): Promise<string> {
  let best: { name: string; size: number } | undefined;
  for (const name of await readdir(dir)) {
    if (!/^pages-\d+\.img$/.test(name)) continue;
    const { size } = await stat(join(dir, name));
    if (!best || size > best.size) best = { name, size };
  }
  if (!best || best.size === 0) throw new Error(`no pages image to tamper with in ${dir}`);
  const f = await open(join(dir, best.name), 'r+');
  try {
    const at = Math.floor(best.size / 2);
    const b = Buffer.alloc(1);
    await f.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await f.write(b, 0, 1, at);
  } finally {
    await f.close();
  }
  return best.name;
}
