import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, removeTree } from '../util/fs.ts';
import { audit, type AuditSink } from './audit.ts';
import { isExpired, readManifest, type ArtifactManifest } from './manifest.ts';
import { DEFAULT_TTL_MS } from './policy.ts';

/** A run directory's name (src/runner/run-id.ts): 2026-11-25T07-56-25Z-79aa. */
const RUN_ID = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{4}$/;

export interface PruneOptions {
  /** A reports directory: its RUN-ID/artifacts directories are looked at. */
  reportsDir: string;
  /** Remove every run's artifacts, expired or not. */
  all: boolean;
  now: Date;
  sink?: AuditSink;
  /** What prune says it did, line by line. */
  say?: (line: string) => void;
}

export interface PrunedRun {
  runId: string;
  path: string;
  bytes: number;
  cells: number;
  /** Why it went: its TTL ran out, --all, or it has no manifest and is older than the default TTL. */
  by: 'ttl' | 'prune';
  expiresAt: string | null;
}

/**
 * Removes kept artifacts under a reports directory: those whose TTL ran out
 * (a run's manifest says when), or all of them. An artifacts directory
 * without a manifest (a run of an older criu-compat, or one killed before it
 * wrote it) counts as expired once it is older than the default TTL. Each
 * removal is an audit line. The run's results and reports stay.
 */
export async function pruneArtifacts(o: PruneOptions): Promise<{ removed: PrunedRun[]; kept: { runId: string; expiresAt: string }[] }> {
  const removed: PrunedRun[] = [];
  const kept: { runId: string; expiresAt: string }[] = [];
  for (const runId of (await readdir(o.reportsDir).catch(() => [] as string[])).sort()) {
    // Only run directories (a run id's name): prune never guesses about a directory it did not make.
    if (!RUN_ID.test(runId)) continue;
    // Nor through a symbolic link: a link named like a run (planted in a shared reports directory) would lead it to another tree.
    if (!(await lstat(join(o.reportsDir, runId)).catch(() => undefined))?.isDirectory()) continue;
    const dir = join(o.reportsDir, runId, 'artifacts');
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const m: ArtifactManifest | undefined = await readManifest(dir).catch(() => undefined);
    const expiresAt = m ? m.expiresAt : new Date(st.mtimeMs + DEFAULT_TTL_MS).toISOString();
    const expired = m ? isExpired(m, o.now) : o.now.getTime() >= Date.parse(expiresAt);
    if (!expired && !o.all) {
      kept.push({ runId, expiresAt });
      await sweepPartials(dir);
      continue;
    }
    const bytes = await du(dir);
    await removeTree(dir);
    const r: PrunedRun = { runId, path: dir, bytes, cells: m?.cells.length ?? 0, by: expired ? 'ttl' : 'prune', expiresAt: m ? m.expiresAt : null };
    removed.push(r);
    await audit(o.sink, { event: 'artifact.deleted', runId, by: r.by, path: dir, bytes });
  }
  return { removed, kept };
}

/** Half-copied sets (NAME.partial-PID) of a process that died (kill -9 while copying) never count as kept: removed. */
async function sweepPartials(dir: string): Promise<void> {
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    const m = /\.partial-(\d+)$/.exec(e.name);
    if (m && e.isDirectory() && !isAlive(Number(m[1]))) await removeTree(join(e.parentPath, e.name));
  }
}

async function du(p: string): Promise<number> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const e of await readdir(p)) total += await du(join(p, e));
  return total;
}

/** Is this a directory at all (a reports directory that does not exist is an error of the caller)? */
export async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
