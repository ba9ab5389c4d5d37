import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelError } from '../errors.ts';

/** Where a kernel's files are in a tree its packages were unpacked into. */
export interface KernelFiles {
  /** uname -r, e.g. 6.1.0-50-amd64 or 7.2.13+deb14-amd64. */
  release: string;
  vmlinuz: string;
  /** DIR/(usr/)lib/modules/RELEASE. */
  modulesDir: string;
  config?: string;
}

const MODULE_BASES = ['lib/modules', 'usr/lib/modules'];

/**
 * Finds vmlinuz, modules and config in TREE: boot/vmlinuz-RELEASE (linux-image
 * packages up to trixie) or (usr/)lib/modules/RELEASE/vmlinuz (the split
 * linux-binary packages of newer suites), the modules under (usr/)lib/modules/RELEASE,
 * the config in boot/config-RELEASE or next to the modules.
 */
export async function locateKernel(tree: string, what: string): Promise<KernelFiles> {
  const found = new Map<string, string>();
  for (const f of await list(join(tree, 'boot'))) if (/^vmlinuz-./.test(f)) found.set(f.slice('vmlinuz-'.length), join(tree, 'boot', f));
  for (const base of MODULE_BASES)
    for (const r of await list(join(tree, base))) if (!found.has(r) && (await isFile(join(tree, base, r, 'vmlinuz')))) found.set(r, join(tree, base, r, 'vmlinuz'));
  if (found.size === 0) throw new KernelError(`${what} holds no kernel image (neither boot/vmlinuz-RELEASE nor usr/lib/modules/RELEASE/vmlinuz); is it a linux-image package?`);
  if (found.size > 1) throw new KernelError(`${what} holds more than one kernel (${[...found.keys()].join(', ')}); name the one to boot with {debian: SUITE, package: linux-image-RELEASE}`);
  const [release, vmlinuz] = [...found][0]!;
  // Modules: the tree with kernel/ in it (a split package set may leave a few files in the other base).
  let modulesDir = '';
  for (const base of MODULE_BASES) {
    const p = join(tree, base, release);
    if (await isDir(join(p, 'kernel'))) modulesDir = p;
    else if (!modulesDir && (await isDir(p))) modulesDir = p;
  }
  if (!modulesDir) throw new KernelError(`${what} has no modules for ${release} (no lib/modules/${release} or usr/lib/modules/${release})`);
  let config: string | undefined;
  for (const c of [join(tree, 'boot', `config-${release}`), join(modulesDir, 'config')]) if (!config && (await isFile(c))) config = c;
  return { release, vmlinuz, modulesDir, ...(config ? { config } : {}) };
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
