import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import type { Settings } from '../config/schema.ts';
import { ensureEngineImage, startEngine, type ContainerEngine } from '../environments/container/engine.ts';
import { startNodeContainer, type NodeContainer } from '../environments/container/node-container.ts';
import { QemuEnvironment } from '../environments/qemu/qemu-environment.ts';
import { resolveImage } from '../images/node-image.ts';
import { takeInventory } from './inventory.ts';
import type { RunPlan } from './plan.ts';
import type { Progress } from './progress.ts';
import type { ProvisionedPool } from './provision.ts';

/** The node image whose podman serves the Docker API when no DOCKER_HOST is given. */
export const ENGINE_IMAGE = 'debian-trixie-containers';

export interface ContainerPoolOptions {
  loaded: LoadedConfig;
  cacheDir: string;
  mirror?: string | undefined;
  workRoot: string;
  natives: RunPlan['natives'];
  progress: Progress;
  timeouts: Settings['timeouts'];
}

/**
 * Brings the container pools up: one engine for the run (DOCKER_HOST's, or
 * a podman service the harness starts), each pool's node image imported
 * into it, one privileged node container per pool with our agent as PID 1,
 * and the inventory read through the agent. A pool that fails gets its
 * error; the others go on. Returns what tears it all down.
 */
export async function startContainerPools(pools: readonly ProvisionedPool[], o: ContainerPoolOptions): Promise<() => Promise<void>> {
  const live = pools.filter((p) => p.image && !p.planned.error);
  if (!live.length) return async () => undefined;
  const started = performance.now();
  let engine: ContainerEngine;
  try {
    for (const p of live) o.progress.update(p.pool.name, 'starting the container engine…');
    const engineRootfs = process.env.DOCKER_HOST
      ? ''
      : (
          await resolveImage(ENGINE_IMAGE, o.loaded.images[ENGINE_IMAGE]!, {
            cacheDir: o.cacheDir,
            buildTimeoutMs: o.timeouts.imageBuildMs,
            ...(o.mirror ? { mirror: o.mirror } : {}),
          })
        ).rootfs;
    engine = await startEngine({ hostDir: join(o.workRoot, 'container-engine'), engineRootfs, helper: o.natives.helper, timeoutMs: o.timeouts.environmentMs });
  } catch (e) {
    for (const p of live) {
      p.planned.error = `${(e as Error).name}: ${(e as Error).message}`;
      o.progress.update(p.pool.name, `ERROR: ${(e as Error).message}`);
    }
    return async () => undefined;
  }
  const containers: NodeContainer[] = [];
  await Promise.all(
    live.map(async (p) => {
      const t0 = performance.now();
      try {
        o.progress.update(p.pool.name, `importing ${p.image!.name} into ${engine.description}…`);
        const ref = await ensureEngineImage(engine, p.image!.name, p.image!.key, p.image!.rootfs, o.timeouts.imageBuildMs);
        o.progress.update(p.pool.name, `starting the node container (${ref})…`);
        const nc = await startNodeContainer({
          engine,
          image: ref,
          name: `criu-compat-${process.pid}-${p.pool.name}`,
          agent: o.natives.agent,
          hostDir: join(o.workRoot, 'container-engine', 'nodes', p.pool.name),
          timeoutMs: o.timeouts.environmentMs,
        });
        containers.push(nc);
        p.phases.bootMs = performance.now() - t0;
        const env = await QemuEnvironment.open({ id: `${p.pool.name}/inventory`, socket: nc.socket, session: 'inventory', timeoutMs: o.timeouts.environmentMs, backend: 'container' });
        try {
          await env.copyIn(o.natives.probes.hwBreakpoints, `${env.workDir}/hw-breakpoints`);
          const probe = await takeInventory(env, p.image!.packages, p.pool.criu.env, o.timeouts.commandMs, `${env.workDir}/hw-breakpoints`);
          p.planned.features = probe.features;
          p.planned.runtimes = probe.inventory.runtimes ?? [];
          p.inventory = { ...probe.inventory, container: { engine: engine.description, image: ref, containerId: nc.containerId.slice(0, 12) } };
        } finally {
          await env.dispose();
        }
        p.planned.container = { socket: nc.socket };
        o.progress.update(p.pool.name, `ready: node container on ${engine.description}, criu ${p.inventory.criuVersion ?? 'not found'}`);
      } catch (e) {
        p.planned.error = `${(e as Error).name}: ${(e as Error).message}`;
        o.progress.update(p.pool.name, `ERROR: ${(e as Error).message}`);
      }
    }),
  );
  for (const p of live) p.phases.provisionMs += performance.now() - started - p.phases.bootMs;
  return async () => {
    await Promise.all(containers.map((c) => c.dispose()));
    await engine.dispose();
  };
}
