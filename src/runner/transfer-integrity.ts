import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Environment } from '../environments/environment.ts';
import { EnvironmentError } from '../errors.ts';
import type { Diagnosis } from '../criu/diagnose.ts';

/**
 * The integrity of a transfer between nodes (the playbook's "transfer
 * integrity" control): before a tree leaves its node, every file's SHA-256
 * and size and every link's target are listed there (a manifest), and the
 * manifest is sealed with HMAC-SHA256 under a key made for this run (node's
 * crypto); after it arrives, the destination lists it again, and the move is
 * refused unless the seal holds and both lists agree. A refusal happens
 * before any restore: the caller never restores a refused tree.
 */

/** One file or link of a tree, as its node saw it. */
export interface ManifestEntry {
  path: string;
  /** Files: size in bytes and SHA-256; links: their target. */
  size?: number;
  sha256?: string;
  link?: string;
}

export interface SealedManifest {
  entries: ManifestEntry[];
  /** HMAC-SHA256 (hex) of the entries' canonical form under the run's key. */
  mac: string;
}

/** The run's transfer key: made once per process, never written anywhere. */
const RUN_KEY = randomBytes(32);

export class TransferTamperedError extends Error {
  override name = 'TransferTamperedError';
  readonly problems: string[];
  constructor(dir: string, from: string, to: string, problems: string[]) {
    super(`transfer refused before restore: ${dir} from ${from} to ${to} is not what left ${from} (${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; ${problems.length - 4} more` : ''})`);
    this.problems = problems;
  }

  /** The diagnosis a cell carries for a refused transfer. */
  get diagnosis(): Diagnosis {
    return {
      id: 'transfer-tampered',
      fatal: true,
      title: 'checkpoint modified in transit: transfer refused before restore',
      cause: 'the files that arrived differ from the sealed manifest made on the source node (SHA-256 per file, sealed with HMAC-SHA256)',
      remediation: 'do not restore this checkpoint; take a new one on the source, and find what changed it on the way (transit storage, copy tool, disk, an attacker)',
      blame: 'environment',
      evidence: this.problems.slice(0, 8).join('; '),
    };
  }
}

/** The sealed manifest of DIR on ENV (sha256sum and find of the node's own image run there). */
export async function sealOnNode(env: Environment, dir: string, o: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}, key: Buffer = RUN_KEY): Promise<SealedManifest> {
  const entries = await manifestOnNode(env, dir, o);
  return { entries, mac: macOf(entries, key) };
}

/** The sealed manifest of one file (an export archive) on ENV: its size and SHA-256. */
export async function sealFileOnNode(env: Environment, path: string, o: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}, key: Buffer = RUN_KEY): Promise<SealedManifest> {
  const entries = await fileManifestOnNode(env, path, o);
  return { entries, mac: macOf(entries, key) };
}

/** Checks one file that arrived on ENV against SEALED; throws TransferTamperedError when it differs. */
export async function verifyFileOnNode(env: Environment, path: string, sealed: SealedManifest, from: string, o: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}, key: Buffer = RUN_KEY): Promise<void> {
  const problems = compareManifests(sealed, await fileManifestOnNode(env, path, o), {}, key);
  if (problems.length) throw new TransferTamperedError(path, from, env.id, problems);
}

async function fileManifestOnNode(env: Environment, path: string, o: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<ManifestEntry[]> {
  const r = await env.exec(['sh', '-c', 'stat -c "%s" "$1" && sha256sum "$1"', 'manifest', path], { timeoutMs: o.timeoutMs ?? 300_000, signal: o.signal });
  const m = /^(\d+)\n([0-9a-f]{64}) /.exec(r.stdout);
  if (r.exitCode !== 0 || !m) throw new EnvironmentError(`environment ${env.id}: cannot take the SHA-256 of ${path}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return [{ path: path.slice(path.lastIndexOf('/') + 1), size: Number(m[1]), sha256: m[2]! }];
}

/** Lists DIR on ENV again and checks it against SEALED; throws TransferTamperedError naming every difference. */
export async function verifyOnNode(env: Environment, dir: string, sealed: SealedManifest, from: string, o: CompareOptions & { signal?: AbortSignal | undefined; timeoutMs?: number } = {}, key: Buffer = RUN_KEY): Promise<void> {
  const problems = compareManifests(sealed, await manifestOnNode(env, dir, o), o, key);
  if (problems.length) throw new TransferTamperedError(dir, from, env.id, problems);
}

export interface CompareOptions {
  /** Paths that were not sent (moveTree's skip): not expected on the destination. */
  skip?: (path: string) => boolean;
  /** The destination may hold files of its own there (a merge): only what was sent is checked. */
  allowExtra?: boolean;
  /** Files still being written while they move (a lazy dump's own log): left out of the check on both sides. */
  live?: (path: string) => boolean;
}

/** What differs between a sealed manifest and the tree that arrived (empty: the same). */
export function compareManifests(sealed: SealedManifest, arrived: readonly ManifestEntry[], o: CompareOptions = {}, key: Buffer = RUN_KEY): string[] {
  const expected = Buffer.from(macOf(sealed.entries, key), 'hex');
  const given = Buffer.from(sealed.mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return ['the manifest\'s seal does not match it (the manifest itself was changed)'];
  const want = new Map(sealed.entries.filter((e) => !o.live?.(e.path)).map((e) => [e.path, e]));
  const got = new Map(arrived.filter((e) => !o.live?.(e.path)).map((e) => [e.path, e]));
  const problems: string[] = [];
  for (const [path, w] of want) {
    if (o.skip?.(path)) continue;
    const g = got.get(path);
    if (!g) problems.push(`${path}: missing`);
    else if (w.link === undefined && (w.sha256 === undefined || g.sha256 === undefined)) problems.push(`${path}: no SHA-256 was listed for it (its name?): its content cannot be checked`);
    else if (w.link !== g.link) problems.push(`${path}: link target changed`);
    else if (w.size !== g.size) problems.push(`${path}: size ${w.size} → ${g.size}`);
    else if (w.sha256 !== g.sha256) problems.push(`${path}: content changed (SHA-256 differs)`);
  }
  if (!o.allowExtra) for (const path of got.keys()) if (!want.has(path)) problems.push(`${path}: not in the manifest (added on the way)`);
  return problems;
}

function macOf(entries: readonly ManifestEntry[], key: Buffer): string {
  const canonical = JSON.stringify([...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((e) => [e.path, e.size ?? null, e.sha256 ?? null, e.link ?? null]));
  return createHmac('sha256', key).update(canonical).digest('hex');
}

/** Sizes, SHA-256s and link targets under DIR, relative to it, by the node's own find and sha256sum. */
async function manifestOnNode(env: Environment, dir: string, o: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<ManifestEntry[]> {
  const script = 'cd "$1" && find . -mindepth 1 \\( -type f -printf "s\\t%s\\t%P\\n" \\) -o \\( -type l -printf "l\\t%l\\t%P\\n" \\) && find . -type f -print0 | xargs -0r sha256sum';
  const r = await env.exec(['sh', '-c', script, 'manifest', dir], { timeoutMs: o.timeoutMs ?? 300_000, signal: o.signal });
  if (r.exitCode !== 0) throw new EnvironmentError(`environment ${env.id}: cannot list the SHA-256 of ${dir} (sha256sum and find of the node image): ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return parseManifest(r.stdout);
}

export function parseManifest(out: string): ManifestEntry[] {
  const byPath = new Map<string, ManifestEntry>();
  for (const line of out.split('\n')) {
    const s = /^([sl])\t([^\t]*)\t(.+)$/.exec(line);
    if (s) {
      byPath.set(s[3]!, s[1] === 's' ? { ...byPath.get(s[3]!), path: s[3]!, size: Number(s[2]) } : { path: s[3]!, link: s[2]! });
      continue;
    }
    // sha256sum marks a name it had to escape (a backslash, a newline) with a leading backslash.
    const h = /^(\\?)([0-9a-f]{64}) [ *]\.\/(.+)$/.exec(line);
    if (!h) continue;
    const path = h[1] ? h[3]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)) : h[3]!;
    byPath.set(path, { ...byPath.get(path), path, sha256: h[2]! });
  }
  return [...byPath.values()];
}
