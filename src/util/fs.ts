import { chmod, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InterruptedError } from '../errors.ts';
import { waitUntil } from './wait-until.ts';

let tmpCounter = 0;

/** Writes a file so that readers see the old content or the new, never half (also when one process writes it twice at once). */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** A directory only root can enter (checkpoint images are memory dumps). */
export async function mkdirPrivate(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 3 });
}

/** Exclusive lock file holding our pid; a lock whose owner died is taken over. */
export async function withLock<T>(lockPath: string, timeoutMs: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  let owner = 0;
  const take = async (): Promise<true | undefined> => {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (!owner || !isAlive(owner)) {
        await rm(lockPath, { force: true });
        return take();
      }
      if (signal?.aborted) throw new InterruptedError(`stopped (interrupted) while waiting for ${lockPath}, held by process ${owner}`);
      return undefined;
    }
  };
  // ref: waiting for another process's lock may be all this process does meanwhile.
  await waitUntil(take, { intervalMs: 250, timeoutMs, ref: true, timeout: () => new Error(`${lockPath} is held by process ${owner} for too long; if that process is gone, remove the file`) });
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
