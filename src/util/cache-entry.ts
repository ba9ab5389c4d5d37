import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removeTree, withLock, writeFileAtomic } from './fs.ts';

/**
 * The cache protocol shared by node images, kernels and guest roots:
 * DIR/manifest.json exists only for a complete entry. A build happens under
 * a lock in a scratch directory and is renamed into place, so a crash never
 * leaves a half entry that looks whole, and two runs never build the same
 * entry twice.
 */
export async function cacheEntry<M extends object>(
  dir: string,
  lockTimeoutMs: number,
  build: (scratch: string) => Promise<M>,
): Promise<{ dir: string; manifest: M; built: boolean; buildMs: number }> {
  const manifestPath = join(dir, 'manifest.json');
  const read = async () => JSON.parse(await readFile(manifestPath, 'utf8')) as M;
  try {
    return { dir, manifest: await read(), built: false, buildMs: 0 };
  } catch {
    /* not cached yet */
  }
  await mkdir(dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, lockTimeoutMs, async () => {
    try {
      return { dir, manifest: await read(), built: false, buildMs: 0 }; // another run built it while we waited
    } catch {
      /* build it */
    }
    const started = performance.now();
    const scratch = `${dir}.build-${process.pid}`;
    await removeTree(scratch);
    await mkdir(scratch, { recursive: true, mode: 0o755 });
    try {
      const manifest = await build(scratch);
      await writeFileAtomic(join(scratch, 'manifest.json'), JSON.stringify(manifest, null, 2));
      await removeTree(dir);
      await rename(scratch, dir);
      return { dir, manifest, built: true, buildMs: performance.now() - started };
    } catch (e) {
      await removeTree(scratch);
      throw e;
    }
  });
}
