import { mkdir, readdir, readFile, readlink, symlink, chmod } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { audit, type AuditSink } from './audit.ts';
import { ENC_SUFFIX, decryptFile } from './cipher.ts';
import type { ArtifactKey } from './key.ts';
import { readManifest } from './manifest.ts';

/** What a cell is called on the command line: POOL/SUITE/CHECK, or a CHECK that names one cell of the run. */
interface CellLike {
  pool: string;
  suite: string;
  check: string;
  artifacts?: string | undefined;
}

/** The kept directory of one cell of a run, from its results.json. */
export async function cellArtifacts(runDir: string, name: string): Promise<{ cell: string; dir: string }> {
  const text = await readFile(join(runDir, 'results.json'), 'utf8').catch(() => {
    throw new UsageError(`${runDir}: no results.json (give a run directory, REPORTS/RUN-ID)`);
  });
  const cells = (JSON.parse(text) as { cells: CellLike[] }).cells;
  const full = (c: CellLike) => `${c.pool}/${c.suite}/${c.check}`;
  const hits = cells.filter((c) => full(c) === name || c.check === name);
  if (hits.length !== 1) throw new UsageError(hits.length ? `"${name}" names ${hits.length} cells (${hits.map(full).join(', ')}); give POOL/SUITE/CHECK` : `${runDir}: no cell "${name}"`);
  const c = hits[0]!;
  const root = resolve(runDir, 'artifacts');
  if (!c.artifacts || c.artifacts.startsWith('not kept') || !resolve(c.artifacts).startsWith(`${root}/`)) throw new UsageError(`${full(c)}: its artifacts were not kept (${c.artifacts ?? 'run without --keep-artifacts'})`);
  return { cell: full(c), dir: resolve(c.artifacts) };
}

/**
 * Decrypts one cell's kept artifacts into TO (made 0700; files 0600), for a
 * re-restore or an inspection: the key must be the one the run recorded
 * (checked by its id before any file is read), and each file must
 * authenticate, or nothing of it is written.
 */
export async function decryptCell(runDir: string, name: string, to: string, key: ArtifactKey, sink?: AuditSink): Promise<{ cell: string; files: number; bytes: number }> {
  const root = resolve(runDir, 'artifacts');
  const m = await readManifest(root).catch(() => {
    throw new UsageError(`${root}: no artifacts manifest (run with --keep-artifacts, not pruned yet?)`);
  });
  if (!m.encryption) throw new UsageError(`${basename(runDir)}: its artifacts are not encrypted; read them in ${root}`);
  if (m.encryption.keyId !== key.id) throw new UsageError(`${key.source}: key ${key.id} is not the one run ${m.runId} encrypted with (${m.encryption.keyId})`);
  const { cell, dir } = await cellArtifacts(runDir, name);
  // Someone's existing directory is refused before it is touched (its mode too).
  if ((await readdir(to).catch(() => [])).length) throw new UsageError(`${to}: not empty; decrypt into a new directory`);
  await mkdir(to, { recursive: true, mode: 0o700 });
  await chmod(to, 0o700);
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const src = join(e.parentPath, e.name);
    const rel = relative(dir, src);
    if (e.isDirectory()) await mkdir(join(to, rel), { recursive: true, mode: 0o700 });
    else if (e.isSymbolicLink()) await symlink(await readlink(src), join(to, rel));
    else if (e.isFile() && e.name.endsWith(ENC_SUFFIX)) {
      const plainRel = rel.slice(0, -ENC_SUFFIX.length);
      await mkdir(join(to, plainRel, '..'), { recursive: true, mode: 0o700 });
      bytes += await decryptFile(key.key, src, join(to, plainRel), relative(root, src).slice(0, -ENC_SUFFIX.length));
      files++;
    }
  }
  await audit(sink, { event: 'artifact.decrypted', runId: m.runId, cell, to: resolve(to), files });
  return { cell, files, bytes };
}
