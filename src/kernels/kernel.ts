import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { KernelSpec } from '../config/schema.ts';
import { KernelError } from '../errors.ts';
import { pickDebianMirror, readAptSources } from '../host/apt-sources.ts';
import { cacheEntry } from '../util/cache-entry.ts';
import { removeTree } from '../util/fs.ts';
import { contentHash, sha256File } from '../util/hash.ts';
import { run } from '../util/process.ts';
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
    const apt = new PrivateApt(opts.cacheDir, mirror);
    opts.onProgress?.(`kernel ${label}: reading package lists`);
    await apt.update(opts.listsMaxAgeMs ?? 24 * 3600_000, opts.timeoutMs);
    // linux-image-amd64 is a metapackage: its one dependency is the real image.
    let pkg = await apt.show(wanted ?? 'linux-image-amd64', suite, opts.timeoutMs);
    if (!wanted) {
      const real = /^(linux-image-[^\s,(]+)/.exec(pkg.depends)?.[1];
      if (!real) throw new KernelError(`kernel ${label}: linux-image-amd64 in ${suite} depends on "${pkg.depends}", not on a kernel image`);
      pkg = await apt.show(real, suite, opts.timeoutMs);
    }
    const key = contentHash({ v: LAYOUT_VERSION, sha256: pkg.sha256 || `${pkg.name}=${pkg.version}` });
    return unpacked(join(opts.cacheDir, 'kernels', `${pkg.name}_${pkg.version}-${key}`), label, `${pkg.name} ${pkg.version}`, key, opts, async (scratch) => {
      opts.onProgress?.(`kernel ${label}: downloading ${pkg.name} ${pkg.version} (${Math.round(pkg.size / 1e6)} MB)`);
      const deb = await apt.download(pkg, join(scratch, 'download'), opts.timeoutMs);
      return deb;
    });
  }
  if ('deb' in spec) {
    const file = resolve(spec.deb);
    const sha = await sha256File(file).catch((e: NodeJS.ErrnoException) => {
      throw new KernelError(`kernel ${file}: cannot read it (${e.code ?? e.message})`);
    });
    const key = contentHash({ v: LAYOUT_VERSION, sha256: sha });
    return unpacked(join(opts.cacheDir, 'kernels', `deb-${key}`), file, file, key, opts, async () => file);
  }
  // A user's own kernel: a vmlinuz and its modules directory (the config loader checked both kinds).
  const vmlinuz = resolve(spec.vmlinuz);
  const sha = await sha256File(vmlinuz).catch((e: NodeJS.ErrnoException) => {
    throw new KernelError(`kernel ${vmlinuz}: cannot read it (${e.code ?? e.message})`);
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

/** Unpacks a linux-image .deb into DIR once: vmlinuz, config, root/lib/modules/RELEASE with modules.dep. */
async function unpacked(dir: string, label: string, origin: string, key: string, opts: KernelOptions, fetch: (scratch: string) => Promise<string>): Promise<Kernel> {
  const entry = await cacheEntry<KernelManifest>(dir, opts.timeoutMs * 3, async (scratch) => {
    const deb = await fetch(scratch);
    opts.onProgress?.(`kernel ${label}: unpacking`);
    const x = join(scratch, 'x');
    const r = await run(['dpkg-deb', '-x', deb, x], { timeoutMs: opts.timeoutMs, signal: opts.signal });
    if (r.exitCode !== 0) throw new KernelError(`kernel ${label}: dpkg-deb -x ${deb} failed: ${r.stderr.trim()}`);
    const boot = await readdir(join(x, 'boot')).catch(() => [] as string[]);
    const image = boot.find((f) => /^vmlinuz-/.test(f));
    if (!image) throw new KernelError(`kernel ${label}: ${deb} has no boot/vmlinuz-*; is it a linux-image package?`);
    const release = image.slice('vmlinuz-'.length);
    let modsrc = '';
    for (const base of ['lib/modules', 'usr/lib/modules']) {
      const p = join(x, base, release);
      if (await exists(p)) modsrc = p;
    }
    if (!modsrc) throw new KernelError(`kernel ${label}: ${deb} has no modules for ${release}`);
    await rename(join(x, 'boot', image), join(scratch, 'vmlinuz'));
    const hasConfig = boot.includes(`config-${release}`);
    if (hasConfig) await rename(join(x, 'boot', `config-${release}`), join(scratch, 'config'));
    await mkdir(join(scratch, 'root/lib/modules'), { recursive: true });
    await rename(modsrc, join(scratch, 'root/lib/modules', release));
    // Debian's package builds modules.dep in its install scripts; we are not installing it.
    const d = await run(['depmod', '-b', join(scratch, 'root'), release], { timeoutMs: opts.timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    if (d.exitCode !== 0)
      throw new KernelError(
        d.exitCode === 127 ? 'depmod not found: apt-get install kmod' : `kernel ${label}: depmod failed: ${d.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      );
    await removeTree(x);
    await removeTree(join(scratch, 'download'));
    return { label, release, origin, key, hasConfig };
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

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

