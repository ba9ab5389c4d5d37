import { chmod, lstat, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { removeTree } from '../util/fs.ts';
import { audit, type AuditSink } from './audit.ts';
import { ENC_SUFFIX, encryptingSink, plainSink, type FileSink } from './cipher.ts';
import { loadArtifactKey, type ArtifactKey } from './key.ts';
import { updateManifest } from './manifest.ts';
import type { ArtifactPolicy } from './policy.ts';
import { formatBytes } from './units.ts';
import { artifactsNow } from './clock.ts';

/** Opens where one copied file goes: DEST on the host, REL its path inside the copied directory. */
export type SinkFactory = (dest: string, rel: string) => Promise<FileSink>;

/** What a node offers to copy a directory out of it (Environment has it). */
export interface CopySource {
  du(path: string): Promise<number>;
  copyOut(path: string, hostDir: string, opts?: { sink?: SinkFactory }): Promise<string>;
}

/** One directory of a set: copied from a node's PATH into the set's sub-directory AS ('' for the set itself). */
export interface ArtifactPart {
  from: CopySource;
  path: string;
  as: string;
}

export interface CellRef {
  pool: string;
  suite: string;
  check: string;
}

export type KeepResult = { kept: true; path: string; bytes: number; files: number } | { kept: false; reason: string };

/** The text of a cell's `artifacts` field for a set that was not kept. */
export const notKept = (reason: string) => `not kept: ${reason}`;

let keyMemo: Promise<ArtifactKey | undefined> | undefined;
/** The run's key, read once per process, and checked against the id the run recorded. */
async function keyFor(p: ArtifactPolicy): Promise<ArtifactKey | undefined> {
  if (!p.encryption) return undefined;
  keyMemo ??= loadArtifactKey({ file: p.encryption.keyFile });
  const k = await keyMemo;
  if (!k || k.id !== p.encryption.keyId) throw new Error(`the artifacts key seen by this worker (${k?.id ?? 'none'}) is not the run's (${p.encryption.keyId})`);
  return k;
}

/**
 * Keeps one set of artifacts (a cell's directory, or a migration attempt's
 * source and destination) under POLICY.dir/REL, whole or not at all: the
 * quota is checked against the set's size first (once it refused a set, it
 * refuses every later one), the copy goes to a scratch directory that is
 * renamed into place only when complete, and with a key each file is
 * encrypted while it is copied. Directories end 0700, files 0600.
 */
export async function keepSet(policy: ArtifactPolicy, sink: AuditSink | undefined, cell: CellRef, rel: string, parts: readonly ArtifactPart[]): Promise<KeepResult> {
  const name = `${cell.pool}/${cell.suite}/${cell.check}`;
  let need = 0;
  for (const p of parts) need += await p.from.du(p.path).catch(() => 0);
  // A cell that left no files (stopped before its first command) has nothing to keep: no set, no quota spent.
  if (need === 0) return { kept: false, reason: 'nothing (the cell left no files)' };
  const refused = await updateManifest(policy.dir, (m) => {
    if (!m.quotaReached && m.usedBytes + need <= m.quotaBytes) {
      m.usedBytes += need;
      return undefined;
    }
    m.quotaReached ??= { at: artifactsNow().toISOString(), cell: name, neededBytes: need };
    const reason = `quota (${formatBytes(m.quotaBytes)} per run reached at ${m.quotaReached.cell}; ${formatBytes(m.usedBytes)} kept)`;
    m.notKept.push({ cell: name, reason });
    return reason;
  });
  if (refused) {
    await audit(sink, { event: 'artifact.not-kept', runId: policy.runId, ...cell, reason: refused });
    return { kept: false, reason: refused };
  }
  const final = join(policy.dir, rel);
  const scratch = `${final}.partial-${process.pid}`;
  try {
    const key = await keyFor(policy);
    // A file's name within the artifacts directory is authenticated with it: see aadName.
    const open: SinkFactory = async (dest) => {
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      return key ? encryptingSink(key.key, `${dest}${ENC_SUFFIX}`, aadName(rel, relative(scratch, dest))) : plainSink(dest);
    };
    await removeTree(scratch);
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    for (const p of parts) await p.from.copyOut(p.path, p.as ? join(scratch, p.as) : scratch, { sink: open });
    const { bytes, files } = await privatise(scratch);
    await removeTree(final);
    await rename(scratch, final);
    await chmodParents(policy.dir, dirname(final));
    await updateManifest(policy.dir, (m) => {
      m.usedBytes += bytes - need;
      m.cells.push({ cell: name, path: final, bytes, files, keptAt: artifactsNow().toISOString() });
    });
    await audit(sink, { event: 'artifact.kept', runId: policy.runId, ...cell, path: final, bytes, files, encrypted: key !== undefined });
    return { kept: true, path: final, bytes, files };
  } catch (e) {
    await removeTree(scratch);
    const reason = `error (${(e as Error).message})`;
    await updateManifest(policy.dir, (m) => {
      m.usedBytes -= need;
      m.notKept.push({ cell: name, reason });
    }).catch(() => undefined);
    await audit(sink, { event: 'artifact.not-kept', runId: policy.runId, ...cell, reason });
    return { kept: false, reason };
  }
}

/** Every directory 0700 and every file 0600 under DIR; returns the files' count and bytes. */
export async function privatise(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) await chmod(p, 0o700);
    else if (e.isFile()) {
      await chmod(p, 0o600);
      bytes += (await lstat(p)).size;
      files++;
    }
  }
  return { bytes, files };
}

/** The directories between the artifacts root and a kept set, root-only too. */
async function chmodParents(root: string, dir: string): Promise<void> {
  for (let d = dir; d.startsWith(`${root}/`) || d === root; d = dirname(d)) {
    await chmod(d, 0o700);
    if (d === root) break;
  }
}

/** The name an encrypted file is bound to: its path under the artifacts directory, without the suffix. */
export function aadName(setRel: string, fileRel: string): string {
  return `${setRel}/${fileRel}`.split('/').filter(Boolean).join('/');
}
