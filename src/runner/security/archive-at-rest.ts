import type { Settings } from '../../config/schema.ts';
import type { Criu } from '../../criu/driver.ts';
import type { Environment } from '../../environments/environment.ts';
import { describeRuntimeFailure } from '../../runtimes/container-runtime.ts';
import type { RuntimeInfo } from '../../runtimes/detect.ts';
import { createRuntime } from '../../runtimes/factory.ts';
import { poll } from '../../util/wait-until.ts';
import type { CellDraft } from '../cell.ts';
import { exposed, listModes } from './artifact-modes.ts';
import { UmaskEnvironment } from './umask-environment.ts';

export interface ArchiveAtRestContext {
  env: Environment;
  criu: Criu;
  criuEnv: Record<string, string>;
  info: RuntimeInfo;
  /** The counter fixture inside the node (the container's workload). */
  counter: string;
  dir: string;
  tag: string;
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
}

/** The umask of a node nobody tightened (a login shell's, a service's usual default). */
export const LOOSE_UMASK = '022';
const REMEDY = 'remedy: write checkpoints only into a root-only (0700) directory, run the runtime with umask 077 or chmod 600 each archive at once, and encrypt them at rest (the runtime does not)';

/**
 * archive-at-rest: what a runtime leaves on disk when it checkpoints. A
 * counter container is checkpointed twice with --leave-running, the first
 * time under umask 022 (what the runtime does by itself on a node that did not
 * tighten it), the second under the harness's 077; each time the archive
 * (podman --export) or image directory (runc, crun) is listed: modes, owners,
 * and the archive's compression (gzip, zstd or none: never encryption).
 * FAIL when the runtime's own default leaves it readable by group or others.
 */
export async function archiveAtRest(x: ArchiveAtRestContext): Promise<CellDraft> {
  const t0 = performance.now();
  const env = new UmaskEnvironment(x.env, LOOSE_UMASK);
  const rt = createRuntime(x.info, { env, criuEnv: x.criuEnv, tag: x.tag, timeoutMs: x.timeouts.criuMs, criu: x.criu, probeTimeoutMs: x.timeouts.commandMs });
  const commands: string[] = [];
  const id = 'cc-archive-at-rest';
  const podman = x.info.name === 'podman';
  try {
    await x.env.makeDir(x.dir);
    const prep = await rt.prepare({ counter: x.counter });
    if (!prep.ok) return { status: 'ERROR', reason: describeRuntimeFailure(`preparing ${x.info.name}`, prep, x.timeouts.criuMs), durations: { totalMs: performance.now() - t0 }, logExcerpt: prep.excerpt };
    const started = await rt.start({ id, workload: 'counter', args: [] });
    commands.push(started.argv.join(' '));
    // A runtime that cannot run a container here (a known cause: the runtime suite's cell says so) leaves no archive to look at.
    const known = started.diagnoses.some((d) => d.blame !== 'note');
    if (!started.ok)
      return {
        status: known ? 'SKIP' : 'ERROR',
        reason: `${known ? 'capability missing: ' : 'harness: '}no checkpoint to look at: ${describeRuntimeFailure(`${x.info.name} run`, started, x.timeouts.criuMs)}`,
        durations: { totalMs: performance.now() - t0 },
        diagnoses: started.diagnoses,
        logExcerpt: started.excerpt,
        commands,
      };
    const ready = await poll(async () => ((await rt.lines(id)).includes('ready') ? true : undefined), { intervalMs: 50, timeoutMs: x.timeouts.readyMs });
    if (!ready) return { status: 'ERROR', reason: `the counter container printed no "ready" within ${x.timeouts.readyMs} ms`, durations: { totalMs: performance.now() - t0 }, commands };
    const seen: Record<string, { modes: string[]; exposed: string[]; compression: string }> = {};
    for (const umask of [LOOSE_UMASK, '077']) {
      env.umask = umask;
      const target = podman ? `${x.dir}/checkpoint-${umask}.tar.gz` : `${x.dir}/img-${umask}`;
      const ck = await rt.checkpoint(id, podman ? { imageDir: `${x.dir}/unused`, leaveRunning: true, exportTo: target } : { imageDir: target, leaveRunning: true });
      commands.push(`umask ${umask}; ${ck.argv.join(' ').replaceAll(`${x.env.workDir}/`, '')}`);
      if (!ck.ok) return { status: 'ERROR', reason: `nothing proved: ${describeRuntimeFailure(`${x.info.name} checkpoint (umask ${umask})`, ck, x.timeouts.criuMs)}`, durations: { totalMs: performance.now() - t0 }, diagnoses: ck.diagnoses, logExcerpt: ck.excerpt, commands };
      // Files only: runc's and crun's image directory is made by the harness's driver (0700), the files in it by the runtime and CRIU.
      const list = (await listModes(x.env, target, x.timeouts.commandMs)).filter((p) => p.type === 'f');
      seen[umask] = {
        modes: [...new Set(list.map((p) => `${p.mode.toString(8).padStart(4, '0')} ${p.uid}:${p.gid}`))],
        exposed: exposed(list),
        compression: podman ? compressionOf(await x.env.readFile(target)) : 'none (CRIU image files)',
      };
    }
    const loose = seen[LOOSE_UMASK]!;
    const tight = seen['077']!;
    const what = podman ? 'its export archive' : 'its checkpoint image files';
    const security = { runtimeDefaultModes: loose.modes.join(', '), runtimeDefaultExposed: loose.exposed.length, harnessModes: tight.modes.join(', '), harnessExposed: tight.exposed.length, compression: loose.compression, encrypted: false };
    const base = { durations: { totalMs: performance.now() - t0 }, metrics: { security }, commands };
    const both = `under umask ${LOOSE_UMASK} ${x.info.name} leaves ${what} ${loose.modes.join(', ')}; under the harness's 077: ${tight.modes.join(', ')}; compression: ${loose.compression}, not encrypted`;
    if (tight.exposed.length) return { ...base, status: 'FAIL', reason: `even under umask 077 ${x.info.name} leaves ${what} readable by others: ${tight.exposed.slice(0, 3).join('; ')} (${REMEDY})` };
    if (loose.exposed.length) return { ...base, status: 'FAIL', reason: `${both}: readable by group or others by default (${loose.exposed.slice(0, 3).join('; ')}) — ${REMEDY}` };
    return { ...base, status: 'PASS', reason: `${both}: root-only either way (still plaintext memory: encrypt at rest)` };
  } finally {
    await rt.remove(id).catch(() => undefined);
    await rt.dispose().catch(() => undefined);
    await x.env.remove(x.dir).catch(() => undefined);
  }
}

/** gzip, zstd, xz, bzip2 or an uncompressed tar, from the first bytes. */
export function compressionOf(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length > 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none (tar)';
  return 'unknown';
}
