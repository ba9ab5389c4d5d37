import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InterruptedError } from '../errors.ts';
import { isAlive, removeTree, withLock, writeFileAtomic } from './fs.ts';
import { run } from './process.ts';

/** The cache's areas whose entries are built in scratch directories (see cacheEntry). */
export const CACHE_AREAS = ['images', 'kernels', 'guest-roots'] as const;
/** A scratch directory: ENTRY.build-PID, PID being the process that builds it. */
const SCRATCH = /^(.+)\.build-(\d+)$/;

/**
 * The cache protocol shared by node images, kernels and guest roots:
 * DIR/manifest.json exists only for a complete entry. A build happens under
 * a lock in a scratch directory and is renamed into place, so a crash never
 * leaves a half entry that looks whole, and two runs never build the same
 * entry twice. A build stopped by SIGNAL (Ctrl-C) throws InterruptedError
 * and its scratch directory goes; one whose process was killed outright is
 * left behind and swept by sweepStaleScratch.
 */
export async function cacheEntry<M extends object>(
  dir: string,
  lockTimeoutMs: number,
  build: (scratch: string) => Promise<M>,
  signal?: AbortSignal,
): Promise<{ dir: string; manifest: M; built: boolean; buildMs: number }> {
  const manifestPath = join(dir, 'manifest.json');
  const read = async () => JSON.parse(await readFile(manifestPath, 'utf8')) as M;
  try {
    return { dir, manifest: await read(), built: false, buildMs: 0 };
  } catch {
    /* not cached yet */
  }
  const stopped = () => new InterruptedError(`building ${dir} was stopped (interrupted); its scratch directory was removed`);
  if (signal?.aborted) throw stopped();
  await mkdir(dirname(dir), { recursive: true });
  return withLock(
    `${dir}.lock`,
    lockTimeoutMs,
    async () => {
      try {
        return { dir, manifest: await read(), built: false, buildMs: 0 }; // another run built it while we waited
      } catch {
        /* build it */
      }
      const started = performance.now();
      const scratch = `${dir}.build-${process.pid}`;
      await removeScratch(scratch);
      await mkdir(scratch, { recursive: true, mode: 0o755 });
      try {
        const manifest = await build(scratch);
        if (signal?.aborted) throw stopped();
        await writeFileAtomic(join(scratch, 'manifest.json'), JSON.stringify(manifest, null, 2));
        await removeTree(dir);
        await rename(scratch, dir);
        return { dir, manifest, built: true, buildMs: performance.now() - started };
      } catch (e) {
        await removeScratch(scratch);
        if (signal?.aborted && !(e instanceof InterruptedError)) throw stopped();
        throw e;
      }
    },
    signal,
  );
}

export interface ScratchDir {
  path: string;
  /** images, kernels or guest-roots. */
  area: string;
  /** The entry it would become. */
  entry: string;
  pid: number;
  /** Its builder still runs: a build in progress, not a leftover. */
  alive: boolean;
}

/** Every scratch directory in the cache, with whether its builder is still alive. */
export async function listScratch(cacheDir: string): Promise<ScratchDir[]> {
  const out: ScratchDir[] = [];
  for (const area of CACHE_AREAS)
    for (const e of (await readdir(join(cacheDir, area)).catch(() => [] as string[])).sort()) {
      const m = SCRATCH.exec(e);
      if (m) out.push({ path: join(cacheDir, area, e), area, entry: m[1]!, pid: Number(m[2]), alive: isAlive(Number(m[2])) });
    }
  return out;
}

/** Removes the scratch directories of builds whose process is gone (killed -9, a crash); returns them. */
export async function sweepStaleScratch(cacheDir: string): Promise<ScratchDir[]> {
  const stale = (await listScratch(cacheDir)).filter((s) => !s.alive && s.pid !== process.pid);
  for (const s of stale) await removeScratch(s.path);
  return stale;
}

/**
 * Removes a scratch directory. A killed debootstrap leaves proc and sysfs
 * (and sometimes device binds) mounted inside its target: those are detached
 * first, deepest first, so that removing the tree never reaches into them.
 */
export async function removeScratch(path: string): Promise<void> {
  for (const m of await mountsUnder(path)) await run(['umount', '-l', m], { timeoutMs: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  const left = await mountsUnder(path);
  if (left.length) throw new Error(`cannot remove ${path}: ${left.join(', ')} still mounted (umount -l failed); unmount them by hand and remove the directory`);
  await removeTree(path);
}

/** Mount points at or below PATH in this mount namespace, deepest first. */
export async function mountsUnder(path: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => Boolean(p))
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return [...new Set(points.filter((p) => p === path || p.startsWith(`${path}/`)))].sort((a, b) => b.length - a.length);
}

/** Bytes on disk under PATH (this file system only), or undefined when du cannot tell. */
export async function diskUsage(path: string): Promise<number | undefined> {
  const r = await run(['du', '-sx', '-B1', path], { timeoutMs: 60_000 });
  const n = Number(r.stdout.split(/\s/)[0]);
  return r.stdout.trim() && Number.isFinite(n) ? n : undefined;
}
