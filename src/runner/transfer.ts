import { constants } from 'node:fs';
import { cp, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.ts';
import type { Environment } from '../environments/environment.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { sealOnNode, verifyOnNode } from './transfer-integrity.ts';

/** What moving a directory from one node to another cost. */
export interface Transfer {
  /** Bytes of the files moved. */
  bytes: number;
  files: number;
  /** From the first byte read on the source to the last mode set on the destination. */
  ms: number;
  /** Sealing the manifest on the source and checking it on the destination (see transfer-integrity.ts). */
  integrityMs?: number;
}

/**
 * Moves DIR (a tree of regular files: checkpoint images, a workload's files)
 * from one node to the same path on another, through a root-only transit
 * directory on the host that is removed whatever happens (Ctrl-C included:
 * the caller's signal stops it between files). File modes travel with the
 * files: CRIU checks a restored file's mode and size. SKIP, if given, leaves
 * out the paths (relative to DIR) it returns true for. MERGE keeps what the
 * destination has there already (pages a page server wrote).
 *
 * Every move is verified: a manifest of SHA-256s is sealed on the source
 * before anything leaves it and checked on the destination after the last
 * file arrived; a difference throws TransferTamperedError (the caller must
 * not restore). LIVE names files still being written while they move (a
 * lazy dump's log): copied, not checked. IN_TRANSIT (the security suite's
 * tamper cell) runs on the host copy between the two nodes.
 */
export async function moveTree(from: Environment, to: Environment, dir: string, transit: string, o: { signal?: AbortSignal | undefined; skip?: (rel: string) => boolean; merge?: boolean; live?: (rel: string) => boolean; inTransit?: (hostDir: string) => Promise<void> } = {}): Promise<Transfer> {
  const i0 = performance.now();
  const sealed = await sealOnNode(from, dir, { signal: o.signal });
  const integrity = performance.now() - i0;
  const moved = await copyTree(from, to, dir, transit, o);
  const i1 = performance.now();
  // A skipped path or a merge leaves the destination's tree different by design: only what was sent is checked there.
  await verifyOnNode(to, dir, sealed, from.id, { signal: o.signal, ...(o.skip ? { skip: o.skip } : {}), ...(o.live ? { live: o.live } : {}), allowExtra: Boolean(o.skip || o.merge) });
  return { ...moved, integrityMs: integrity + performance.now() - i1 };
}

/**
 * Moves several directories (a runc container: its images, CRIU's work
 * directory, its bundle) to the same paths on another node, each with
 * moveTree and its own transit directory (TRANSIT-0, TRANSIT-1, …): the
 * bytes and files added up, the time from the first to the last.
 */
export async function moveTrees(from: Environment, to: Environment, dirs: readonly string[], transit: string, o: { signal?: AbortSignal | undefined } = {}): Promise<Transfer> {
  const t0 = performance.now();
  let bytes = 0;
  let files = 0;
  let integrityMs = 0;
  for (const [i, dir] of dirs.entries()) {
    const m = await moveTree(from, to, dir, `${transit}-${i}`, o);
    bytes += m.bytes;
    files += m.files;
    integrityMs += m.integrityMs ?? 0;
  }
  return { bytes, files, ms: performance.now() - t0, integrityMs };
}

/** The copy itself, without the integrity check. */
async function copyTree(from: Environment, to: Environment, dir: string, transit: string, o: { signal?: AbortSignal | undefined; skip?: (rel: string) => boolean; merge?: boolean; inTransit?: (hostDir: string) => Promise<void> }): Promise<Omit<Transfer, 'integrityMs'>> {
  const t0 = performance.now();
  if (from.hostPath && to.hostPath && !o.skip && !o.inTransit) return copyOnHost(from.hostPath(dir), to.hostPath(dir), t0, o.merge ?? false);
  const { modes, links } = await listTree(from, dir);
  await removeTree(transit);
  try {
    await from.copyOut(dir, transit);
    o.signal?.throwIfAborted();
    await o.inTransit?.(transit);
    let bytes = 0;
    let files = 0;
    await to.makeDir(dir);
    const chmods: string[] = [];
    for (const rel of await walk(transit)) {
      o.signal?.throwIfAborted();
      if (o.skip?.(rel)) continue;
      const host = join(transit, rel);
      const st = await lstat(host);
      if (st.isSymbolicLink()) continue; // made from the source's listing below
      const target = `${dir}/${rel}`;
      if (st.isDirectory()) {
        await to.makeDir(target);
        continue;
      }
      await to.copyIn(host, target);
      bytes += st.size;
      files++;
      const mode = modes.get(rel);
      if (mode !== undefined) chmods.push(mode, target);
    }
    // One command sets every mode and makes every symbolic link (a dump's "parent" link to its pre-dump).
    const ops = [...chmods.flatMap((x, i) => (i % 2 ? [] : ['m', x, chmods[i + 1]!])), ...[...links].filter(([rel]) => !o.skip?.(rel)).flatMap(([rel, target]) => ['l', target, `${dir}/${rel}`])];
    if (ops.length) {
      const r = await to.exec(['sh', '-c', 'while [ $# -gt 2 ]; do if [ "$1" = m ]; then chmod "$2" "$3" || exit 1; else ln -sfn "$2" "$3" || exit 1; fi; shift 3; done', 'finish-move', ...ops], { timeoutMs: 30_000, signal: o.signal });
      if (r.exitCode !== 0) throw new EnvironmentError(`environment ${to.id}: cannot set the modes and links of the moved files: ${r.stderr.trim()}`);
    }
    return { bytes, files, ms: performance.now() - t0 };
  } finally {
    await removeTree(transit);
  }
}

/** Both nodes' work directories are host directories: one copy, modes, times and links kept. */
async function copyOnHost(src: string, dst: string, t0: number, merge: boolean): Promise<Omit<Transfer, 'integrityMs'>> {
  if (!merge) await rm(dst, { recursive: true, force: true });
  await cp(src, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, mode: constants.COPYFILE_FICLONE });
  let bytes = 0;
  let files = 0;
  for (const rel of await walk(dst)) {
    const st = await lstat(join(dst, rel));
    if (st.isFile()) {
      bytes += st.size;
      files++;
    }
  }
  return { bytes, files, ms: performance.now() - t0 };
}

/** Octal mode of every regular file under DIR and the target of every symbolic link, by relative path. */
async function listTree(env: Environment, dir: string): Promise<{ modes: Map<string, string>; links: Map<string, string> }> {
  const r = await env.exec(['find', dir, '-mindepth', '1', '(', '-type', 'f', '-printf', 'f %m %P\\n', ')', '-o', '(', '-type', 'l', '-printf', 'l %P\\t%l\\n', ')'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new EnvironmentError(`environment ${env.id}: cannot list ${dir}: ${r.stderr.trim()}`);
  const modes = new Map<string, string>();
  const links = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const f = /^f ([0-7]+) (.+)$/.exec(line);
    if (f) modes.set(f[2]!, f[1]!);
    const l = /^l ([^\t]+)\t(.+)$/.exec(line);
    if (l) links.set(l[1]!, l[2]!);
  }
  return { modes, links };
}

/** Every path under ROOT (directories before what they hold), relative to it. */
async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(root, p)));
  }
  return out;
}

/** A private transit directory for one move under the host directory BASE. */
export async function transitDir(base: string, name: string): Promise<string> {
  await mkdirPrivate(base);
  return join(base, name);
}
