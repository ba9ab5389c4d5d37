import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { fixtureOf } from '../config/catalogue/index.ts';
import type { Pool } from '../config/schema.ts';
import { buildStatic, buildStaticDir } from '../native/build-static.ts';
import { failPool } from '../backends/inventory.ts';
import { unprovisioned, type ProvisionedPool } from '../backends/pool-backend.ts';
import { createProvisioner, kernelKey } from '../backends/provisioner.ts';
import { backendOf } from '../backends/registry.ts';
import type { RunPlan } from '../plan/plan.ts';
import type { Progress } from './progress.ts';

export type { ProvisionedPool } from '../backends/pool-backend.ts';

export const PROJECT_ROOT = join(import.meta.dirname, '..', '..');

/** Compiles the namespace helper, the VM guard, the guest agent and the workloads (cached by content). */
export async function buildNatives(cacheDir: string, workloads: readonly string[]): Promise<RunPlan['natives']> {
  const header = join(PROJECT_ROOT, 'fixtures/workloads/cc-workload.h');
  const [helper, guard, agent, hwBreakpoints, pause, registry, client, ...bins] = await Promise.all([
    buildStaticDir('cc-ns', join(PROJECT_ROOT, 'src/environments/namespace/cc-ns'), cacheDir),
    buildStatic('cc-guard', join(PROJECT_ROOT, 'src/native/cc-guard.c'), [], cacheDir),
    buildStaticDir('cc-agent', join(PROJECT_ROOT, 'src/agent'), cacheDir),
    buildStatic('hw-breakpoints', join(PROJECT_ROOT, 'fixtures/probes/hw-breakpoints.c'), [], cacheDir),
    buildStatic('cc-pause', join(PROJECT_ROOT, 'src/native/cc-pause.c'), [], cacheDir),
    buildStatic('cc-registry', join(PROJECT_ROOT, 'src/native/cc-registry.c'), [], cacheDir),
    buildStatic('cc-probe', join(PROJECT_ROOT, 'fixtures/probes/cc-probe.c'), [], cacheDir),
    ...workloads.map((w) => buildStatic(fixtureOf(w), join(PROJECT_ROOT, `fixtures/workloads/${fixtureOf(w)}.c`), [header], cacheDir)),
  ]);
  return { helper, guard, agent, pause, registry, workloads: Object.fromEntries(workloads.map((w, i) => [w, bins[i]!])), probes: { hwBreakpoints, client } };
}

export interface ProvisionOptions {
  cacheDir: string;
  mirror?: string;
  workRoot: string;
  natives: RunPlan['natives'];
  progress: Progress;
  /** Ctrl-C: stops image, kernel and guest-root builds at once (their pools get an InterruptedError). */
  signal?: AbortSignal | undefined;
}

/**
 * Brings every pool to the point where its backend can start it: its node
 * image (built or from the cache), and whatever else its backend needs (a
 * VM's kernel and guest root). A pool that fails here is not fatal to the
 * run: it carries its error and its cells become ERROR.
 */
export async function provisionPools(loaded: LoadedConfig, pools: readonly Pool[], opts: ProvisionOptions): Promise<ProvisionedPool[]> {
  // Pools that share an image or a kernel share one resolution of it, and all of them show its progress.
  const provisioner = createProvisioner(loaded, {
    cacheDir: opts.cacheDir,
    mirror: opts.mirror,
    signal: opts.signal,
    report: (kind, key, what) => {
      for (const q of pools)
        if (kind === 'image' ? q.image === key : kernelKey(q.kernel) === key) opts.progress.update(q.name, kind === 'image' ? `image ${key}: ${what}…` : `${what}…`);
    },
  });
  const ctx = { provisioner, agent: opts.natives.agent, progress: (pool: string, what: string) => opts.progress.update(pool, what) };
  return Promise.all(
    pools.map(async (pool): Promise<ProvisionedPool> => {
      const started = performance.now();
      const p = unprovisioned(pool, join(opts.workRoot, pool.name));
      try {
        await backendOf(pool.backend).provision(p, ctx);
      } catch (e) {
        failPool(p, e, ctx.progress);
      }
      p.phases.provisionMs = performance.now() - started;
      return p;
    }),
  );
}
