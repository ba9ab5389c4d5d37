/** A user's own kernel ({vmlinuz, modules}) whose modules directory has no modules.dep: the harness runs depmod, on a copy. */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { resolveKernel } from '../../src/kernels/kernel.ts';
import { moduleName, parseModulesDep } from '../../src/kernels/modules.ts';
import { tempDir } from './harness.ts';

test('modules without modules.dep: the config is accepted, depmod makes one in the cache, the user directory is left alone', async () => {
  // A real kernel and real modules: Debian bookworm's 6.1, as the VM pools use it.
  const k = await resolveKernel('debian/bookworm', { cacheDir: defaultCacheDir(), timeoutMs: 600_000 });
  const dep = parseModulesDep(readFileSync(join(k.modulesDir, 'modules.dep'), 'utf8'));
  const tcp = dep.get('tcp_diag')!;
  expect(tcp.deps.map(moduleName)).toContain('inet_diag');
  // The user's tree: tcp_diag and what it needs, with modules.order as a kernel build leaves it, no modules.dep.
  const mods = join(tempDir('criu-compat-mods-'), k.release);
  const files = [tcp.path, ...tcp.deps];
  for (const rel of files) {
    mkdirSync(dirname(join(mods, rel)), { recursive: true });
    copyFileSync(join(k.modulesDir, rel), join(mods, rel));
  }
  writeFileSync(join(mods, 'modules.order'), files.map((f) => `${f.replace(/\.xz$/, '')}\n`).join(''));
  const cfg = join(dirname(mods), 'pools.yaml');
  writeFileSync(cfg, `pools:\n  - {name: own, kernel: {vmlinuz: ${k.vmlinuz}, modules: ${mods}}, image: debian-trixie}\n`);
  const { config } = await loadConfig(cfg);
  const spec = config.pools[0]!.kernel as { vmlinuz: string; modules: string };

  const cacheDir = tempDir('criu-compat-cache-');
  const own = await resolveKernel(spec, { cacheDir, timeoutMs: 120_000 });
  expect(own).toMatchObject({ release: k.release, vmlinuz: k.vmlinuz, built: true });
  expect(own.modulesDir.startsWith(join(cacheDir, 'kernels'))).toBe(true);
  const made = parseModulesDep(readFileSync(join(own.modulesDir, 'modules.dep'), 'utf8'));
  expect(made.get('tcp_diag')!.deps.map(moduleName)).toEqual(tcp.deps.map(moduleName));
  expect(existsSync(join(mods, 'modules.dep'))).toBe(false);
  expect(readdirSync(mods).sort()).toEqual(['kernel', 'modules.order']);
  // Cached by content: the second time nothing is built.
  expect(await resolveKernel(spec, { cacheDir, timeoutMs: 120_000 })).toMatchObject({ built: false, modulesDir: own.modulesDir });
}, 900_000);
