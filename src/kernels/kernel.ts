import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { KernelSpec } from '../config/schema.ts';
import { KernelError } from '../errors.ts';
import { pickDebianMirror, readAptSources } from '../host/apt-sources.ts';
import { cacheEntry } from '../util/cache-entry.ts';
import { removeTree } from '../util/fs.ts';
import { contentHash, sha256File } from '../util/hash.ts';
import { run } from '../util/process.ts';
import { kernelPackages, mainPart, partsKeyInput } from './kernel-packages.ts';
import { locateKernel } from './kernel-tree.ts';
import { PrivateApt } from './private-apt.ts';

const LAYOUT_VERSION = 1;

/** A bootable kernel, unpacked in the cache. */
export interface Kernel {
  /** How the config named it, e.g. "debian/bookworm". */
  label: string;
  /** uname -r of the kernel, e.g. 6.1.0-50-amd64. */
  release: string;
  vmlinuz: string;
  /** DIR/lib/modules/RELEASE, with modules.dep. */
  modulesDir: string;
  /** The kernel's .config when the package ships one. */
  configFile?: string;
  /** Where it came from: package name and version, or a file. */
  origin: string;
  /** Content key (package hash or file hash). */
  key: string;
  built: boolean;
  buildMs: number;
}

interface KernelManifest {
  label: string;
  release: string;
  origin: string;
  key: string;
  hasConfig: boolean;
}

export interface KernelOptions {
  cacheDir: string;
  mirror?: string | undefined;
  timeoutMs: number;
  /** Package lists older than this are refreshed. */
  listsMaxAgeMs?: number;
  onProgress?: (what: string) => void;
  /** Ctrl-C: unpacking stops at once and the half-unpacked entry goes (a running download finishes first). */
  signal?: AbortSignal | undefined;
}

/** Resolves a pool's kernel (not "host") to an unpacked, cached kernel. */
export async function resolveKernel(spec: Exclude<KernelSpec, 'host'>, opts: KernelOptions): Promise<Kernel> {
  if (typeof spec === 'string' || 'debian' in spec) {
    const suite = typeof spec === 'string' ? spec.slice('debian/'.length) : spec.debian;
    const wanted = typeof spec === 'string' ? undefined : spec.package;
    const label = typeof spec === 'string' ? spec : `debian/${suite}`;
    const mirror = opts.mirror ?? (process.env.CRIU_COMPAT_MIRROR || pickDebianMirror(await readAptSources()));
    if (!mirror) throw new KernelError(`kernel ${label}: no Debian mirror found in /etc/apt/sources.list{,.d}; pass --mirror URL`);
    const apt = new PrivateApt(opts.cacheDir, mirror, suite);
    opts.onProgress?.(`kernel ${label}: reading package lists`);
    const { parts } = await labelled(label, async () => {
      await apt.update(opts.listsMaxAgeMs ?? 24 * 3600_000, opts.timeoutMs);
      // linux-image-amd64 is a metapackage; the release's image may itself only depend on linux-binary-*, linux-modules-*, linux-base-*.
      return kernelPackages(wanted ?? 'linux-image-amd64', (name, version) => apt.show(name, version, opts.timeoutMs));
    });
    const main = mainPart(parts);
    const key = contentHash({ v: LAYOUT_VERSION, sha256: partsKeyInput(parts) });
    const origin = parts.map((p) => `${p.name} ${p.version}`).join(', ');
    return unpacked(join(opts.cacheDir, 'kernels', `${main.name}_${main.version}-${key}`), label, origin, key, opts, async (scratch) => {
      const size = parts.reduce((n, p) => n + p.size, 0);
      opts.onProgress?.(`kernel ${label}: downloading ${parts.map((p) => p.name).join(', ')} ${main.version} (${Math.round(size / 1e6)} MB)`);
      const debs: string[] = [];
      for (const p of parts) debs.push(await labelled(label, () => apt.download(p, join(scratch, 'download'), opts.timeoutMs)));
      return debs;
    });
  }
  if ('deb' in spec) {
    const file = resolve(spec.deb);
    const sha = await sha256File(file).catch((e: NodeJS.ErrnoException) => {
      throw new KernelError(`kernel ${file}: cannot read it (${e.code ?? e.message})`, { cause: e });
    });
    const key = contentHash({ v: LAYOUT_VERSION, sha256: sha });
    return unpacked(join(opts.cacheDir, 'kernels', `deb-${key}`), file, file, key, opts, async () => [file]);
  }
  // A user's own kernel: a vmlinuz and its modules directory (the config loader checked both kinds).
  const vmlinuz = resolve(spec.vmlinuz);
  const sha = await sha256File(vmlinuz).catch((e: NodeJS.ErrnoException) => {
    throw new KernelError(`kernel ${vmlinuz}: cannot read it (${e.code ?? e.message})`, { cause: e });
  });
  const modulesDir = resolve(spec.modules);
  const release = basename(modulesDir);
  if (await exists(join(modulesDir, 'modules.dep')))
    return { label: vmlinuz, release, vmlinuz, modulesDir, origin: vmlinuz, key: contentHash({ v: LAYOUT_VERSION, sha, modulesDir }), built: false, buildMs: 0 };
  // No modules.dep: as for a .deb, depmod makes one — on a copy in the cache, the user's directory is not ours to write.
  const key = contentHash({ v: LAYOUT_VERSION, sha, modulesDir, tree: await treeListing(modulesDir) });
  const dir = join(opts.cacheDir, 'kernels', `files-${release}-${key}`);
  const entry = await cacheEntry<KernelManifest>(dir, opts.timeoutMs * 3, async (scratch) => {
    opts.onProgress?.(`kernel ${vmlinuz}: ${modulesDir} has no modules.dep; running depmod on a copy`);
    await mkdir(join(scratch, 'root/lib/modules'), { recursive: true });
    const cp = await run(['cp', '-a', '--reflink=auto', modulesDir, join(scratch, 'root/lib/modules', release)], { timeoutMs: opts.timeoutMs });
    if (cp.exitCode !== 0) throw new KernelError(`kernel ${vmlinuz}: cannot copy ${modulesDir}: ${cp.stderr.trim()}`);
    await depmod(join(scratch, 'root'), release, vmlinuz, opts.timeoutMs);
    return { label: vmlinuz, release, origin: vmlinuz, key, hasConfig: false };
  });
  return { label: vmlinuz, release, vmlinuz, modulesDir: join(dir, 'root/lib/modules', release), origin: vmlinuz, key, built: entry.built, buildMs: entry.buildMs };
}

/** Makes ROOT/lib/modules/RELEASE/modules.dep (and the other indexes) with the host's depmod. */
async function depmod(root: string, release: string, label: string, timeoutMs: number): Promise<void> {
  const d = await run(['depmod', '-b', root, release], { timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  if (d.exitCode !== 0)
    throw new KernelError(d.exitCode === 127 ? 'depmod not found: apt-get install kmod' : `kernel ${label}: depmod failed: ${d.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

/** Names, sizes and modification times under DIR: a change to a user's modules directory is a new cache key. */
async function treeListing(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const lines = await Promise.all(
    entries.map(async (e) => {
      const p = join(e.parentPath, e.name);
      const st = await stat(p).catch(() => undefined);
      return `${p.slice(dir.length)} ${st?.size ?? '?'} ${st?.mtimeMs ?? '?'}`;
    }),
  );
  return contentHash(lines.sort());
}

/**
 * Unpacks a kernel's .debs into one tree once and keeps vmlinuz, config and
 * root/lib/modules/RELEASE with modules.dep.
 */
async function unpacked(dir: string, label: string, origin: string, key: string, opts: KernelOptions, fetch: (scratch: string) => Promise<string[]>): Promise<Kernel> {
  const entry = await cacheEntry<KernelManifest>(dir, opts.timeoutMs * 3, async (scratch) => {
    const debs = await fetch(scratch);
    opts.onProgress?.(`kernel ${label}: unpacking`);
    const x = join(scratch, 'x');
    for (const deb of debs) {
      const r = await run(['dpkg-deb', '-x', deb, x], { timeoutMs: opts.timeoutMs, signal: opts.signal });
      if (r.exitCode !== 0) throw new KernelError(`kernel ${label}: dpkg-deb -x ${deb} failed: ${r.stderr.trim()}`);
    }
    const k = await locateKernel(x, `kernel ${label}: ${debs.map((d) => basename(d)).join(' + ')}`);
    const release = k.release;
    await rename(k.vmlinuz, join(scratch, 'vmlinuz'));
    if (k.config) await rename(k.config, join(scratch, 'config'));
    await mkdir(join(scratch, 'root/lib/modules'), { recursive: true });
    await rename(k.modulesDir, join(scratch, 'root/lib/modules', release));
    // Debian's packages build modules.dep in their install scripts; we are not installing them.
    const d = await run(['depmod', '-b', join(scratch, 'root'), release], { timeoutMs: opts.timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    if (d.exitCode !== 0)
      throw new KernelError(
        d.exitCode === 127 ? 'depmod not found: apt-get install kmod' : `kernel ${label}: depmod failed: ${d.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      );
    await removeTree(x);
    await removeTree(join(scratch, 'download'));
    return { label, release, origin, key, hasConfig: k.config !== undefined };
  }, opts.signal);
  const m = entry.manifest;
  return {
    label,
    release: m.release,
    vmlinuz: join(dir, 'vmlinuz'),
    modulesDir: join(dir, 'root/lib/modules', m.release),
    ...(m.hasConfig ? { configFile: join(dir, 'config') } : {}),
    origin: m.origin,
    key: m.key,
    built: entry.built,
    buildMs: entry.buildMs,
  };
}

/** Runs FN; a KernelError from it names the pool's kernel. */
async function labelled<T>(label: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KernelError && !e.message.startsWith('kernel ')) throw new KernelError(`kernel ${label}: ${e.message}`, { cause: e });
    throw e;
  }
}


async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
