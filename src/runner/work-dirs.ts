import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allBackends } from '../backends/registry.ts';
import { isAlive, mkdirPrivate, removeTree } from '../util/fs.ts';

/**
 * A run's scratch work directory (/tmp/criu-compat-run-PID-XXXX, 0700):
 * where the nodes' work directories, and so every checkpoint image, live
 * until their cell is over. Kept artifacts are copied out of it (see
 * src/artifacts/store.ts); the directory goes at the end of the run.
 */
const WORK_PREFIX = 'criu-compat-run-';

export async function makeWorkRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${WORK_PREFIX}${process.pid}-`));
  await mkdirPrivate(dir);
  return dir;
}

/** Work directories of runs whose process died (killed -9, machine crash) hold checkpoint images: remove them. */
export async function sweepStaleWorkDirs(): Promise<void> {
  const base = tmpdir();
  for (const e of await readdir(base).catch(() => [] as string[])) {
    const m = new RegExp(`^(?:${[WORK_PREFIX, ...allBackends().flatMap((b) => b.tempPrefixes)].join('|')})(\\d+)-`).exec(e);
    if (m && !isAlive(Number(m[1]))) await removeTree(join(base, e));
  }
}
