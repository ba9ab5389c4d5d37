import { parseArgs } from 'node:util';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { UsageError } from '../errors.ts';
import { defaultCacheDir, resolveImage } from '../images/node-image.ts';
import { removeTree } from '../util/fs.ts';

const HELP = `Usage: criu-compat images <list|build|prune> [options]

  list                  cached node images (name, key, build date, CRIU version)
  build [NAME]...       build (or find in the cache) these images; default: every
                        image the config's pools use
  prune                 remove every cached node image and compiled fixture

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
    return 0;
  }
  if (sub === 'build') {
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
    return 0;
  }
  if (sub === 'prune') {
    await removeTree(join(cacheDir, 'images'));
    await removeTree(join(cacheDir, 'native'));
    console.log(`removed cached images and fixtures under ${cacheDir}`);
    return 0;
  }
  throw new UsageError(`unknown images subcommand "${sub}"; use list, build or prune`);
}
