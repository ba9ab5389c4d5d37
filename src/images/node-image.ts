import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ImageError, InterruptedError } from '../errors.ts';
import type { ImageSpec } from '../config/schema.ts';
import { contentHash, sha256File } from '../util/hash.ts';
import { cacheEntry } from '../util/cache-entry.ts';
import { removeTree, writeFileAtomic } from '../util/fs.ts';
import { run } from '../util/process.ts';
import { redactUrl, redactUrlsIn } from '../util/redact.ts';
import { pickDebianMirror, readAptSources } from '../host/apt-sources.ts';
import { parseDpkgStatus, parseOsRelease } from './dpkg-status.ts';

/** Bumped when the way images are built changes, so old cache entries are not reused. */
const RECIPE_VERSION = 1;
const MOUNTPOINTS = ['proc', 'sys', 'dev', 'tmp', 'run'];

export interface NodeImage {
  name: string;
  rootfs: string;
  /** Content key: recipe hash for built images, file hash for tarballs, path for directories. */
  key: string;
  source: 'debootstrap' | 'rootfs' | 'tarball';
  builtAt?: string;
  mirror?: string;
  osRelease: string;
  packages: Record<string, string>;
  /** True when this run built it, false when it came from the cache or the user. */
  built: boolean;
  buildMs: number;
}

export interface ImageOptions {
  cacheDir: string;
  mirror?: string;
  buildTimeoutMs: number;
  onProgress?: (what: string) => void;
  /** Ctrl-C: kills the build's process group (debootstrap, tar) at once and removes its scratch directory. */
  signal?: AbortSignal | undefined;
}

export async function resolveImage(name: string, spec: ImageSpec, opts: ImageOptions): Promise<NodeImage> {
  if ('rootfs' in spec) return openRootfs(name, resolve(spec.rootfs), 'rootfs', resolve(spec.rootfs), false, 0);
  if ('tarball' in spec) return fromTarball(name, resolve(spec.tarball), opts);
  return fromDebootstrap(name, spec.debootstrap, opts);
}

async function openRootfs(name: string, rootfs: string, source: NodeImage['source'], key: string, built: boolean, buildMs: number, extra: Partial<NodeImage> = {}): Promise<NodeImage> {
  try {
    if (!(await stat(rootfs)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new ImageError(`node image ${name}: ${rootfs} is not a usable root filesystem (${(e as Error).message})`, { cause: e });
  }
  const missing: string[] = [];
  for (const m of MOUNTPOINTS) await access(join(rootfs, m)).catch(() => missing.push(`/${m}`));
  if (missing.length) throw new ImageError(`node image ${name}: ${rootfs} lacks ${missing.join(', ')}; a node image needs these directories as mount points`);
  const packages = parseDpkgStatus(await readFile(join(rootfs, 'var/lib/dpkg/status'), 'utf8').catch(() => ''));
  const osr = parseOsRelease(
    await readFile(join(rootfs, 'etc/os-release'), 'utf8').catch(() => readFile(join(rootfs, 'usr/lib/os-release'), 'utf8').catch(() => '')),
  );
  return { name, rootfs, key, source, osRelease: osr.PRETTY_NAME ?? 'unknown', packages, built, buildMs, ...extra };
}

async function fromTarball(name: string, file: string, opts: ImageOptions): Promise<NodeImage> {
  let hash: string;
  try {
    hash = await sha256File(file);
  } catch (e) {
    throw new ImageError(`node image ${name}: cannot read tarball ${file} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const dir = join(opts.cacheDir, 'images', `tar-${hash.slice(0, 16)}`);
  return cached(name, dir, 'tarball', hash.slice(0, 16), opts, async (rootfs) => {
    opts.onProgress?.(`extracting ${file}`);
    const r = await run(['tar', '-xpf', file, '-C', rootfs, '--numeric-owner'], { timeoutMs: opts.buildTimeoutMs, signal: opts.signal });
    if (opts.signal?.aborted) throw new InterruptedError(`node image ${name}: extracting ${file} was stopped (interrupted)`);
    if (r.exitCode !== 0) throw new ImageError(`node image ${name}: tar failed to extract ${file}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return {};
  });
}

async function fromDebootstrap(name: string, recipe: { suite: string; include: string[]; mirror?: string | undefined }, opts: ImageOptions): Promise<NodeImage> {
  const include = [...new Set(recipe.include)].sort();
  const key = contentHash({ v: RECIPE_VERSION, kind: 'debootstrap', suite: recipe.suite, include, variant: 'minbase', arch: process.arch });
  const dir = join(opts.cacheDir, 'images', `${name}-${key}`);
  return cached(name, dir, 'debootstrap', key, opts, async (rootfs, workDir) => {
    const mirror = recipe.mirror ?? opts.mirror ?? (process.env.CRIU_COMPAT_MIRROR || pickDebianMirror(await readAptSources()));
    if (!mirror) throw new ImageError(`node image ${name}: no Debian mirror found in /etc/apt/sources.list{,.d}; pass --mirror URL or set images.${name}.debootstrap.mirror`);
    // The mirror may carry credentials: only its redacted form is shown or kept (progress, manifest, results, logs).
    opts.onProgress?.(`debootstrap ${recipe.suite} from ${redactUrl(mirror)}`);
    const argv = ['debootstrap', '--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), recipe.suite, rootfs, mirror];
    const r = await run(argv, { timeoutMs: opts.buildTimeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' }, signal: opts.signal });
    if (opts.signal?.aborted) throw new InterruptedError(`node image ${name}: debootstrap ${recipe.suite} was stopped (interrupted); its half-built directory is removed`);
    await writeFileAtomic(join(workDir, 'build.log'), redactUrlsIn(r.stdout + r.stderr));
    if (r.exitCode !== 0) {
      const tail = redactUrlsIn((r.stdout + r.stderr).trim().split('\n').slice(-4).join(' | '));
      const why = r.timedOut ? `timed out after ${opts.buildTimeoutMs} ms` : r.exitCode === 127 ? 'debootstrap is not installed (apt-get install debootstrap)' : `exit ${r.exitCode}`;
      throw new ImageError(`node image ${name}: debootstrap ${recipe.suite} failed (${why}): ${tail}`);
    }
    // Shrink: the package cache is not part of a node.
    await removeTree(join(rootfs, 'var/cache/apt/archives'));
    await mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    return { mirror: redactUrl(mirror) };
  });
}

/** A node image in the cache protocol (see cacheEntry): DIR/rootfs plus DIR/manifest.json. */
async function cached(
  name: string,
  dir: string,
  source: NodeImage['source'],
  key: string,
  opts: ImageOptions,
  build: (rootfs: string, workDir: string) => Promise<Partial<NodeImage>>,
): Promise<NodeImage> {
  const entry = await cacheEntry(dir, opts.buildTimeoutMs + 60_000, async (scratch) => {
    await mkdir(join(scratch, 'rootfs'), { recursive: true, mode: 0o755 });
    const extra = await build(join(scratch, 'rootfs'), scratch);
    return { name, source, key, builtAt: new Date().toISOString(), ...extra } as { builtAt: string; mirror?: string };
  }, opts.signal);
  const m = entry.manifest;
  return openRootfs(name, join(dir, 'rootfs'), source, key, entry.built, entry.buildMs, { builtAt: m.builtAt, ...(m.mirror ? { mirror: redactUrl(m.mirror) } : {}) });
}


