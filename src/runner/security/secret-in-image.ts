import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '../../config/schema.ts';
import { failureStatus } from '../../criu/diagnose.ts';
import { describeFailure, type Criu } from '../../criu/driver.ts';
import type { Environment } from '../../environments/environment.ts';
import { mkdirPrivate, removeTree } from '../../util/fs.ts';
import { Workload } from '../../workloads/protocol.ts';
import type { CellDraft } from '../cell.ts';
import { exposed, listModes } from './artifact-modes.ts';
import { CANARY_LOCATIONS, TOKEN_FILE_ORDER, tokensIn, type Canary, type CanaryLocation } from './canary.ts';

export interface SecretInImageContext {
  env: Environment;
  criu: Criu;
  /** The secret-canary fixture inside the node. */
  binary: string;
  /** The cell's directory inside the node (images, the workload's files). */
  dir: string;
  /** A host directory the images are copied to for the scan (made root-only, removed after). */
  hostScratch: string;
  canary: Canary;
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
}

/** Where each token was found: image file names (relative to the image directory) per location. */
export type Findings = Record<CanaryLocation, string[]>;

/**
 * secret-in-image: the secret-canary workload keeps one token in each place
 * (environment, heap, a private and a shared file mapping, a deleted file),
 * CRIU dumps it, and the harness copies the image directory to a root-only
 * host directory and looks for every token in every file, plaintext. The
 * finding is the point: PASS means the harness proved, per place, whether
 * the secret is in the image (metrics.security). FAIL only when the harness's
 * own handling leaks it: image files readable by anyone but root. ERROR when
 * nothing is proved: the dump failed, or not even the heap token (anonymous
 * memory, always in pages-*.img) was found, which means the scan itself is
 * not trustworthy. Tokens never leave this function: only location names,
 * file names and counts do.
 */
export async function secretInImage(x: SecretInImageContext): Promise<CellDraft> {
  const { env, dir } = x;
  const t0 = performance.now();
  const commands: string[] = [];
  await env.makeDir(`${dir}/img`);
  await env.writeFile(`${dir}/tokens`, TOKEN_FILE_ORDER.map((l) => `${x.canary[l]}\n`).join(''), 0o600);
  const wl = new Workload(env, 'secret-canary', x.binary, `${dir}/workload.out`, [dir], { CC_SECRET: x.canary.environ });
  wl.abortSignal = x.criu.signal = x.signal;
  try {
    await wl.start();
    const up = await wl.waitReady(x.timeouts.readyMs);
    if (!up.ok) return { status: 'ERROR', reason: `harness: the secret-canary workload ${up.alive ? `printed no "ready" within ${x.timeouts.readyMs} ms` : 'exited before it was ready'}`, durations: { totalMs: performance.now() - t0 }, workloadOutput: await wl.lines() };
    const dump = await x.criu.dump({ pid: wl.pid, imagesDir: `${dir}/img`, logFile: 'dump.log', verbosity: 4 });
    commands.push(dump.argv.join(' ').replaceAll(`${dir}/`, ''));
    const durations = { totalMs: performance.now() - t0, dumpMs: dump.result.durationMs };
    if (!dump.ok) return { status: failureStatus(dump.diagnoses), reason: `nothing proved: ${describeFailure('criu dump', dump, x.timeouts.criuMs)}`, durations, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt, commands };
    const leaks = exposed(await listModes(env, `${dir}/img`, x.timeouts.commandMs));
    const { findings, files, bytes } = await scanCopy(env, `${dir}/img`, x.hostScratch, x.canary);
    const present = CANARY_LOCATIONS.filter((l) => findings[l].length);
    const absent = CANARY_LOCATIONS.filter((l) => !findings[l].length);
    const security = { ...Object.fromEntries(CANARY_LOCATIONS.map((l) => [l, findings[l].length > 0])), imageFiles: files, imageBytes: bytes, exposedImageFiles: leaks.length };
    const where = present.map((l) => `${l} (${findings[l].join(', ')})`).join('; ');
    const base = { durations: { ...durations, totalMs: performance.now() - t0 }, metrics: { security }, commands };
    if (leaks.length) return { ...base, status: 'FAIL', reason: `the harness's own checkpoint images are readable by others than root: ${leaks.slice(0, 5).join('; ')} (remedy: run with umask 077, chmod -R go-rwx the image directory)` };
    if (!findings.heap.length) return { ...base, status: 'ERROR', reason: `harness: the heap secret was not found in ${files} image files (anonymous memory is always dumped, plaintext): the scan proves nothing` };
    return {
      ...base,
      status: 'PASS',
      reason: `plaintext in the image: ${where}${absent.length ? `; not in it: ${absent.join(', ')}` : ''} — checkpoint images are memory snapshots, keep them encrypted and root-only`,
    };
  } finally {
    if (wl.pid) await wl.kill();
    await env.remove(dir).catch(() => undefined);
    await removeTree(x.hostScratch);
  }
}

/** Copies the image directory to a root-only host directory, looks for every token in every file, and removes the copy. */
async function scanCopy(env: Environment, imagesDir: string, hostDir: string, canary: Canary): Promise<{ findings: Findings; files: number; bytes: number }> {
  await removeTree(hostDir);
  await mkdirPrivate(hostDir);
  try {
    const copy = await env.copyOut(imagesDir, hostDir);
    return await scanTree(copy, canary);
  } finally {
    await removeTree(hostDir);
  }
}

/** Every regular file under ROOT, read whole (tokens may sit anywhere, across any boundary), searched for every token. */
export async function scanTree(root: string, canary: Canary): Promise<{ findings: Findings; files: number; bytes: number }> {
  const findings = Object.fromEntries(CANARY_LOCATIONS.map((l) => [l, [] as string[]])) as Findings;
  let files = 0;
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const buf = await readFile(join(root, p));
        files++;
        bytes += buf.length;
        for (const l of tokensIn(buf, canary)) findings[l].push(p);
      }
    }
  };
  if (!(await lstat(root)).isDirectory()) throw new Error(`scan: ${root} is not a directory`);
  await walk('');
  return { findings, files, bytes };
}
