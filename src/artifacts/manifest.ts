import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { withLock, writeFileAtomic } from '../util/fs.ts';

/**
 * RUN-ID/artifacts/manifest.json (0600): when the run's kept artifacts
 * expire, the quota and what it let in, which cells were kept (and where) or
 * refused, and the key's id when they are encrypted. Suite workers (several
 * processes) update it under a lock file beside it.
 */

export const MANIFEST = 'manifest.json';
const LOCK = '.manifest.lock';
const LOCK_TIMEOUT_MS = 60_000;

export const ArtifactManifest = z.object({
  schema: z.literal('criu-compat/artifacts'),
  runId: z.string(),
  createdAt: z.string(),
  ttlMs: z.number().int().positive(),
  expiresAt: z.string(),
  quotaBytes: z.number().int().positive(),
  usedBytes: z.number().int().nonnegative(),
  encryption: z.object({ algorithm: z.literal('aes-256-gcm'), keyId: z.string() }).nullable(),
  /** The first cell the quota refused; every later cell is refused too. */
  quotaReached: z.object({ at: z.string(), cell: z.string(), neededBytes: z.number() }).nullable(),
  cells: z.array(z.object({ cell: z.string(), path: z.string(), bytes: z.number(), files: z.number(), keptAt: z.string() })),
  notKept: z.array(z.object({ cell: z.string(), reason: z.string() })),
});
export type ArtifactManifest = z.infer<typeof ArtifactManifest>;

export async function readManifest(dir: string): Promise<ArtifactManifest> {
  return ArtifactManifest.parse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')));
}

export async function writeManifest(dir: string, m: ArtifactManifest): Promise<void> {
  await writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(m, null, 2)}\n`, 0o600);
}

/** Reads, changes and writes the manifest under its lock; returns what fn returned. */
export async function updateManifest<T>(dir: string, fn: (m: ArtifactManifest) => T): Promise<T> {
  return withLock(join(dir, LOCK), LOCK_TIMEOUT_MS, async () => {
    const m = await readManifest(dir);
    const out = fn(m);
    await writeManifest(dir, m);
    return out;
  });
}

export function isExpired(m: Pick<ArtifactManifest, 'expiresAt'>, now: Date): boolean {
  return now.getTime() >= Date.parse(m.expiresAt);
}
