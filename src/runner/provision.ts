import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import type { Pool } from '../config/schema.ts';
import { NamespaceEnvironment } from '../environments/namespace/namespace-environment.ts';
import { resolveImage, type NodeImage } from '../images/node-image.ts';
import { buildStatic } from '../native/build-static.ts';
import type { Inventory } from '../results/schema.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { takeInventory } from './inventory.ts';
import type { PlannedPool, RunPlan } from './plan.ts';
import type { Progress } from './progress.ts';

export const PROJECT_ROOT = join(import.meta.dirname, '..', '..');

export interface ProvisionedPool {
  planned: PlannedPool;
  pool: Pool;
  image: NodeImage | null;
  inventory: Inventory | null;
}

/** Compiles the helper and the workloads (cached by content). */
export async function buildNatives(cacheDir: string, workloads: readonly string[]): Promise<RunPlan['natives']> {
  const header = join(PROJECT_ROOT, 'fixtures/workloads/cc-workload.h');
  const [helper, hwBreakpoints, ...bins] = await Promise.all([
    buildStatic('cc-ns', join(PROJECT_ROOT, 'src/environments/namespace/cc-ns.c'), [], cacheDir),
    buildStatic('hw-breakpoints', join(PROJECT_ROOT, 'fixtures/probes/hw-breakpoints.c'), [], cacheDir),
    ...workloads.map((w) => buildStatic(w, join(PROJECT_ROOT, `fixtures/workloads/${w}.c`), [header], cacheDir)),
  ]);
  return { helper, workloads: Object.fromEntries(workloads.map((w, i) => [w, bins[i]!])), probes: { hwBreakpoints } };
}

/**
 * Brings every pool to the point where suites can run: its node image
 * (built or from the cache) and its inventory, read from inside a short-lived
 * environment. A pool that fails here is not fatal to the run: it carries its
 * error and its cells become ERROR.
 */
export async function provisionPools(
  loaded: LoadedConfig,
  pools: readonly Pool[],
  opts: { cacheDir: string; mirror?: string; workRoot: string; natives: RunPlan['natives']; progress: Progress },
): Promise<ProvisionedPool[]> {
  const { settings } = loaded.config;
  const images = new Map<string, Promise<NodeImage>>();
  const imageFor = (pool: Pool) => {
    let p = images.get(pool.image);
    if (!p) {
      p = resolveImage(pool.image, loaded.images[pool.image]!, {
        cacheDir: opts.cacheDir,
        buildTimeoutMs: settings.timeouts.imageBuildMs,
        ...(opts.mirror ? { mirror: opts.mirror } : {}),
        onProgress: (what) => {
          for (const q of pools) if (q.image === pool.image) opts.progress.update(q.name, `image ${pool.image}: ${what}…`);
        },
      });
      images.set(pool.image, p);
    }
    return p;
  };
  return Promise.all(
    pools.map(async (pool): Promise<ProvisionedPool> => {
      const hostWorkDir = join(opts.workRoot, pool.name);
      const planned: PlannedPool = { name: pool.name, rootfs: '', criuEnv: pool.criu.env, hostWorkDir, features: [] };
      let image: NodeImage | null = null;
      try {
        opts.progress.update(pool.name, `image ${pool.image}: looking in the cache…`);
        image = await imageFor(pool);
        planned.rootfs = image.rootfs;
        opts.progress.update(pool.name, `image ${pool.image}: ${image.built ? `built in ${(image.buildMs / 1000).toFixed(0)} s` : 'cached'}; reading inventory…`);
        await mkdirPrivate(join(hostWorkDir, 'inventory'));
        const env = await NamespaceEnvironment.start({
          id: `${pool.name}/inventory`,
          rootfs: image.rootfs,
          hostWorkDir: join(hostWorkDir, 'inventory'),
          helper: opts.natives.helper,
          timeoutMs: settings.timeouts.environmentMs,
        });
        try {
          await env.copyIn(opts.natives.probes.hwBreakpoints, `${env.workDir}/hw-breakpoints`);
          const probe = await takeInventory(env, image.packages, pool.criu.env, settings.timeouts.commandMs, `${env.workDir}/hw-breakpoints`);
          planned.features = probe.features;
          opts.progress.update(pool.name, `ready: kernel ${probe.inventory.kernelRelease}, criu ${probe.inventory.criuVersion ?? 'not found'}`);
          return { planned, pool, image, inventory: probe.inventory };
        } finally {
          await env.dispose();
          await removeTree(join(hostWorkDir, 'inventory'));
        }
      } catch (e) {
        planned.error = `${(e as Error).name}: ${(e as Error).message}`;
        opts.progress.update(pool.name, `ERROR: ${(e as Error).message}`);
        return { planned, pool, image, inventory: null };
      }
    }),
  );
}
