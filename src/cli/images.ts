import { parseArgs } from 'node:util';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { UsageError } from '../errors.ts';
import { checkMirrorInputs } from '../config/mirror.ts';
import { resolveImage } from '../images/node-image.ts';
import { defaultCacheDir } from '../images/cache-dir.ts';
import { removeTree } from '../util/fs.ts';
import type { KernelSpec } from '../config/schema.ts';
import { buildGuestRoot } from '../images/guest-root.ts';
import { resolveKernel } from '../kernels/kernel.ts';
import { buildNatives } from '../runner/provision.ts';

const HELP = `Usage: criu-compat images <list|build|prune> [options]

  list                  cached node images (name, key, build date, CRIU version),
                        kernels and VM guest roots
  build [NAME]...       build (or find in the cache) these images; default: every
                        image the config's pools use, and for VM pools their
                        kernels and guest roots too
  prune                 remove every cached node image, kernel, guest root and
                        compiled fixture

Options:
  -c, --config FILE     node-pools file (default: embedded default)
      --cache-dir DIR   cache directory (default: see 'criu-compat run --help')
      --mirror URL      Debian mirror for debootstrap
  -h, --help            this help`;

export async function imagesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'cache-dir': { type: 'string' },
      mirror: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [sub, ...names] = positionals;
  if (values.help || !sub) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  if (sub === 'list') {
    const dir = join(cacheDir, 'images');
    const entries = (await readdir(dir).catch(() => [] as string[])).filter((e) => !/\.(lock|build-\d+)$/.test(e));
    if (!entries.length) console.log(`no cached images in ${dir}`);
    for (const e of entries.sort()) {
      const m = JSON.parse(await readFile(join(dir, e, 'manifest.json'), 'utf8').catch(() => '{}')) as { builtAt?: string };
      const status = await readFile(join(dir, e, 'rootfs/var/lib/dpkg/status'), 'utf8').catch(() => '');
      const criu = /Package: criu\n(?:.*\n)*?Version: (.+)/.exec(status)?.[1] ?? '?';
      console.log(`${e.padEnd(36)} built ${m.builtAt ?? 'incomplete'}  criu ${criu}`);
    }
    for (const [sub, what] of [
      ['kernels', 'kernel'],
      ['guest-roots', 'guest root'],
    ] as const) {
      const d = join(cacheDir, sub);
      for (const e of (await readdir(d).catch(() => [] as string[])).filter((x) => !/\.(lock|build-\d+)$/.test(x)).sort())
        console.log(`${what.padEnd(11)} ${e}`);
    }
    return 0;
  }
  if (sub === 'build') {
    checkMirrorInputs(values.mirror);
    const loaded = await loadConfig(values.config);
    const wanted = names.length ? names : [...new Set(loaded.config.pools.map((p) => p.image))];
    for (const n of wanted) if (!loaded.images[n]) throw new UsageError(`no image named "${n}"; known: ${Object.keys(loaded.images).join(', ')}`);
    for (const n of wanted) {
      const img = await resolveImage(n, loaded.images[n]!, {
        cacheDir,
        buildTimeoutMs: loaded.config.settings.timeouts.imageBuildMs,
        ...(values.mirror ? { mirror: values.mirror } : {}),
        onProgress: (w) => console.error(`${n}: ${w}`),
      });
      console.log(`${n}: ${img.built ? `built in ${(img.buildMs / 1000).toFixed(0)} s` : 'cached'} at ${img.rootfs} (criu ${img.packages.criu ?? 'none'})`);
    }
    if (!names.length) {
      // VM pools: their kernels and guest roots as well, so a CI cache step can warm everything.
      const natives = await buildNatives(cacheDir, []);
      for (const pool of loaded.config.pools.filter((p) => p.backend === 'qemu')) {
        const opts = { cacheDir, timeoutMs: loaded.config.settings.timeouts.imageBuildMs, onProgress: (w: string) => console.error(`${pool.name}: ${w}`) };
        const kernel = await resolveKernel(pool.kernel as Exclude<KernelSpec, 'host'>, { ...opts, mirror: values.mirror });
        const image = await resolveImage(pool.image, loaded.images[pool.image]!, { cacheDir, buildTimeoutMs: opts.timeoutMs });
        const root = await buildGuestRoot(kernel, image, natives.agent, pool.vm.modules, opts);
        console.log(`${pool.name}: kernel ${kernel.release} (${kernel.origin}), guest root ${Math.round(root.sizeBytes / 1e6)} MB ${root.built ? 'built' : 'cached'}`);
      }
    }
    return 0;
  }
  if (sub === 'prune') {
    for (const sub of ['images', 'native', 'kernels', 'guest-roots', 'apt']) await removeTree(join(cacheDir, sub));
    console.log(`removed cached images, kernels, guest roots and fixtures under ${cacheDir}`);
    return 0;
  }
  throw new UsageError(`unknown images subcommand "${sub}"; use list, build or prune`);
}
