import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ImageError } from '../errors.ts';
import type { Kernel } from '../kernels/kernel.ts';
import { CRIU_GUEST_MODULES, moduleName, parseModulesDep, selectModules } from '../kernels/modules.ts';
import { cacheEntry } from '../util/cache-entry.ts';
import { removeTree } from '../util/fs.ts';
import { contentHash } from '../util/hash.ts';
import { run } from '../util/process.ts';
import type { NodeImage } from './node-image.ts';

const RECIPE_VERSION = 2;

/** What never belongs in a guest's RAM: docs, manuals, translations, package caches, device nodes. */
const PRUNE = ['./usr/share/doc/*', './usr/share/man/*', './usr/share/info/*', './usr/share/locale/*', './var/cache/*', './var/lib/apt/lists/*', './proc/*', './sys/*', './dev/*', './run/*', './tmp/*'];

export interface GuestRoot {
  /** The initramfs: the node image's rootfs plus /cc (agent as /cc/init, modules, load list). */
  initrd: string;
  key: string;
  sizeBytes: number;
  modules: { loaded: number; notModules: string[] };
  built: boolean;
  buildMs: number;
}

interface GuestRootManifest {
  key: string;
  kernel: string;
  image: string;
  sizeBytes: number;
  modules: { loaded: number; notModules: string[] };
}

/**
 * Turns a node image into a bootable guest root for one kernel: an
 * uncompressed initramfs (newc cpio) of the image's rootfs, followed by a
 * second archive with /cc/init (the agent), the kernel modules CRIU needs
 * (decompressed, with their dependencies) under /cc/lib/modules/RELEASE with
 * their modules.dep, and /cc/modules.load (the agent's load order). Built once per
 * (kernel, image, agent, modules) and cached.
 *
 * Why an initramfs rather than a disk image: it needs no block or file-system
 * driver before the root is up (Debian's virtio_blk and ext4 are modules),
 * the guest's root is writable tmpfs-like memory that vanishes with the VM
 * (checkpoint images included), and the kernel unpacks an uncompressed cpio
 * at memory speed even under TCG.
 */
export async function buildGuestRoot(
  kernel: Kernel,
  image: NodeImage,
  agent: string,
  extraModules: readonly string[],
  opts: { cacheDir: string; timeoutMs: number; onProgress?: (what: string) => void; signal?: AbortSignal | undefined },
): Promise<GuestRoot> {
  const wanted = [...new Set([...CRIU_GUEST_MODULES, ...extraModules])];
  const key = contentHash({ v: RECIPE_VERSION, kernel: kernel.key, image: image.key, agent: basename(agent), wanted, prune: PRUNE });
  // NAME-RELEASE-PAIR-KEY: PAIR names the (kernel, image) pair, so a rebuild for it can retire its older entries.
  const pair = contentHash({ kernel: kernel.key, image: image.key }).slice(0, 8);
  const dir = join(opts.cacheDir, 'guest-roots', `${image.name}-${kernel.release}-${pair}-${key}`);
  const entry = await cacheEntry<GuestRootManifest>(dir, opts.timeoutMs * 2, async (scratch) => {
    opts.onProgress?.(`guest root ${image.name} for ${kernel.release}: packing`);
    const depText = await readFile(join(kernel.modulesDir, 'modules.dep'), 'utf8').catch(() => {
      throw new ImageError(`kernel ${kernel.label}: ${kernel.modulesDir}/modules.dep is missing`);
    });
    const sel = selectModules(parseModulesDep(depText), wanted);
    const cc = join(scratch, 'overlay', 'cc');
    // /cc/lib/modules/RELEASE with its own modules.dep, so `modprobe -d /cc` works in the guest too.
    const modRoot = `lib/modules/${kernel.release}`;
    await mkdir(join(cc, modRoot), { recursive: true });
    await copyFile(agent, join(cc, 'init'));
    const byTool: Record<string, string[]> = { xz: [], zstd: [], gzip: [] };
    const guestPaths: string[] = [];
    for (const rel of sel.load) {
      const dst = join(cc, modRoot, rel);
      await mkdir(dirname(dst), { recursive: true });
      await copyFile(join(kernel.modulesDir, rel), dst);
      const ext = /\.(xz|zst|gz)$/.exec(rel)?.[1];
      if (ext) byTool[ext === 'zst' ? 'zstd' : ext === 'gz' ? 'gzip' : 'xz']!.push(dst);
      guestPaths.push(`/cc/${modRoot}/${rel.replace(/\.(xz|zst|gz)$/, '')}`);
    }
    // Decompressed on the host: older kernels cannot load compressed modules themselves.
    for (const [tool, files] of Object.entries(byTool)) {
      if (!files.length) continue;
      const r = await run([tool, '-d', '-q', '-f', ...(tool === 'zstd' ? ['--rm'] : []), ...files], { timeoutMs: opts.timeoutMs });
      if (r.exitCode !== 0) throw new ImageError(`guest root: ${tool} -d failed on ${kernel.label}'s modules: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}${r.exitCode === 127 ? ` (apt-get install ${tool === 'xz' ? 'xz-utils' : tool})` : ''}`);
    }
    await writeFile(join(cc, 'modules.load'), guestPaths.map((p) => `${p}\n`).join(''));
    const plain = (x: string) => x.replace(/\.(xz|zst|gz)$/, '');
    const dep = parseModulesDep(depText);
    await writeFile(
      join(cc, modRoot, 'modules.dep'),
      sel.load.map((rel) => `${plain(rel)}: ${(dep.get(moduleName(rel))?.deps ?? []).map(plain).join(' ')}`.trimEnd() + '\n').join(''),
    );
    const initrd = join(scratch, 'initrd.cpio');
    await packCpio([{ dir: image.rootfs, prune: PRUNE }, { dir: join(scratch, 'overlay') }], initrd, `guest root ${image.name}`, opts.timeoutMs, opts.signal);
    await removeTree(join(scratch, 'overlay'));
    const sizeBytes = (await stat(initrd)).size;
    return { key, kernel: kernel.origin, image: image.key, sizeBytes, modules: { loaded: sel.load.length, notModules: sel.notModules } };
  }, opts.signal);
  if (entry.built) await evictSiblings(dir);
  return {
    initrd: join(dir, 'initrd.cpio'),
    key,
    sizeBytes: entry.manifest.sizeBytes,
    modules: entry.manifest.modules,
    built: entry.built,
    buildMs: entry.buildMs,
  };
}

/** A new guest root for a (kernel, image) pair replaces that pair's older ones (another agent or module set): they are 100+ MB each. */
async function evictSiblings(dir: string): Promise<void> {
  const base = basename(dir);
  const prefix = base.replace(/-[0-9a-f]{16}$/, '-');
  for (const e of await readdir(dirname(dir)).catch(() => [] as string[]))
    if (e !== base && e.startsWith(prefix) && /^[0-9a-f]{16}$/.test(e.slice(prefix.length))) await removeTree(join(dirname(dir), e));
}

/**
 * Writes the trees as concatenated newc cpio archives (the kernel unpacks
 * them in order, later ones over earlier ones), leaving out pruned paths.
 */
async function packCpio(trees: { dir: string; prune?: readonly string[] }[], out: string, what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const script = ['set -eu', ': > "$OUT"'];
  trees.forEach((t, i) => {
    const prune = t.prune?.length ? `\\( ${t.prune.map((p) => `-path '${p}'`).join(' -o ')} \\) -prune -o ` : '';
    script.push(`(cd "$${i + 1}" && find . ${prune}-print0 | cpio --null -o -H newc --quiet) >> "$OUT"`);
  });
  const r = await run(['sh', '-c', script.join('\n'), 'pack', ...trees.map((t) => t.dir)], { timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OUT: out }, signal });
  if (r.exitCode !== 0)
    throw new ImageError(`${what}: packing failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}${/cpio: not found|cpio: command not found/.test(r.stderr) ? ' (apt-get install cpio)' : ''}`);
}

/** A minimal initramfs: only /cc/init (the agent), for probe boots (accelerator probe, bare-boot benchmark). */
export async function probeInitrd(agent: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'guest-roots', `probe-${basename(agent)}`);
  await cacheEntry(dir, 60_000, async (scratch) => {
    await mkdir(join(scratch, 'root/cc'), { recursive: true });
    await copyFile(agent, join(scratch, 'root/cc/init'));
    await packCpio([{ dir: join(scratch, 'root') }], join(scratch, 'initrd.cpio'), 'probe initramfs', 60_000);
    await removeTree(join(scratch, 'root'));
    return { agent: basename(agent) };
  });
  return join(dir, 'initrd.cpio');
}
