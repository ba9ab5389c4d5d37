import { parseArgs } from 'node:util';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { prepareHost } from '../host/prepare.ts';
import { needsOf } from '../host/requirements.ts';
import { selectionLabel } from '../config/select.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { UsageError } from '../errors.ts';
import { checkMirrorInputs } from '../config/mirror.ts';
import { defaultCacheDir } from '../images/cache-dir.ts';
import { removeTree } from '../util/fs.ts';
import { diskUsage, listScratch, removeScratch, sweepStaleScratch } from '../util/cache-entry.ts';
import { unprovisioned } from '../backends/pool-backend.ts';
import { createProvisioner, kernelKey } from '../backends/provisioner.ts';
import { backendOf } from '../backends/registry.ts';
import { buildNatives } from '../runner/provision.ts';

const HELP = `Usage: criu-compat images <list|build|prune> [options]

  list                  cached node images (name, key, build date, CRIU version),
                        kernels and VM guest roots; builds in progress and the
                        stale scratch directories of killed builds, with sizes
  build [NAME]...       build (or find in the cache) these images; default: every
                        image the config's pools use, and for VM pools their
                        kernels and guest roots too
  prune                 remove every cached node image, kernel, guest root,
                        compiled fixture and stale build (stale builds also go
                        at the start of every run and build)

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
    // Builds under way, and leftovers of builds whose process was killed (swept by the next run or prune).
    for (const s of await listScratch(cacheDir)) {
      const size = await diskUsage(s.path);
      const mb = size === undefined ? 'size unknown' : `${Math.round(size / 1e6)} MB`;
      console.log(`${s.area}/${basename(s.path)}  ${s.alive ? `build in progress (process ${s.pid})` : `stale build (process ${s.pid} is gone)`}, ${mb}`);
    }
    return 0;
  }
  if (sub === 'build') {
    checkMirrorInputs(values.mirror);
    const loaded = await loadConfig(values.config);
    // What building needs on this machine (debootstrap, and for VM pools QEMU, kernels' tools…): one message before any work.
    const pools = names.length ? loaded.config.pools.filter((p) => names.includes(p.image)) : loaded.config.pools;
    await prepareHost({ needs: needsOf(loaded, pools), cacheDir, install: false, what: `building ${names.length ? names.join(', ') : 'the images of ' + selectionLabel(loaded, pools)}`, write: (l) => console.error(l) });
    await sweepStaleScratch(cacheDir);
    // Ctrl-C: the build's process group is killed at once and its half-built directory removed.
    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      if (abort.signal.aborted) process.exit(130);
      process.stderr.write(`\n${sig}: stopping the build\n`);
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await buildImages(loaded, names, cacheDir, values.mirror, abort.signal);
    } catch (e) {
      if (abort.signal.aborted) {
        console.error(`criu-compat: ${(e as Error).message}`);
        return 130;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  if (sub === 'prune') {
    for (const sub of ['images', 'native', 'kernels', 'guest-roots', 'apt']) {
      // A killed debootstrap can leave proc/sys mounted inside its scratch directory: detach before removing.
      for (const s of await listScratch(cacheDir)) if (s.path.startsWith(join(cacheDir, sub, '/'))) await removeScratch(s.path);
      await removeTree(join(cacheDir, sub));
    }
    console.log(`removed cached images, kernels, guest roots and fixtures under ${cacheDir}`);
    return 0;
  }
  throw new UsageError(`unknown images subcommand "${sub}"; use list, build or prune`);
}

async function buildImages(loaded: LoadedConfig, names: string[], cacheDir: string, mirror: string | undefined, signal: AbortSignal): Promise<number> {
  const wanted = names.length ? names : [...new Set(loaded.config.pools.map((p) => p.image))];
  for (const n of wanted) if (!loaded.images[n]) throw new UsageError(`no image named "${n}"; known: ${Object.keys(loaded.images).join(', ')}`);
  // The run's own provisioning: each image, kernel and guest root resolved once, the way a run would.
  const provisioner = createProvisioner(loaded, {
    cacheDir,
    mirror,
    signal,
    report: (kind, key, what) => console.error(`${kind === 'image' ? key : (loaded.config.pools.find((p) => kernelKey(p.kernel) === key)?.name ?? key)}: ${what}`),
  });
  for (const n of wanted) {
    const img = await provisioner.image(n);
    console.log(`${n}: ${img.built ? `built in ${(img.buildMs / 1000).toFixed(0)} s` : 'cached'} at ${img.rootfs} (criu ${img.packages.criu ?? 'none'})`);
  }
  if (!names.length) {
    // Every pool through its backend's provisioning: VM pools get their kernels and guest roots too, so a CI cache step can warm everything.
    const natives = await buildNatives(cacheDir, []);
    const ctx = { provisioner, agent: natives.agent, progress: (pool: string, what: string) => console.error(`${pool}: ${what}`) };
    for (const pool of loaded.config.pools) {
      const p = unprovisioned(pool, '');
      await backendOf(pool.backend).provision(p, ctx);
      if (p.vm) console.log(`${pool.name}: kernel ${p.vm.kernel.release} (${p.vm.kernel.origin}), guest root ${Math.round(p.vm.guestRoot.sizeBytes / 1e6)} MB ${p.vm.guestRoot.built ? 'built' : 'cached'}`);
    }
  }
  return 0;
}
