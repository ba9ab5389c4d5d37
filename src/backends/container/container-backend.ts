import { join } from 'node:path';
import { AgentEnvironment } from '../../environments/agent/agent-environment.ts';
import { ensureEngineImage, startEngine, type ContainerEngine } from '../../environments/container/engine.ts';
import { startNodeContainer, type NodeContainer } from '../../environments/container/node-container.ts';
import { NodeLink, configureInside, plugNetns } from '../../environments/network/node-link.ts';
import { EnvironmentError } from '../../errors.ts';
import { resolveImage } from '../../images/node-image.ts';
import { failPool, probePool } from '../inventory.ts';
import { provisionNodeImage, type PoolBackend, type ProvisionedPool, type StartContext } from '../pool-backend.ts';

/** The node image whose podman serves the Docker API when no DOCKER_HOST is given. */
export const ENGINE_IMAGE = 'debian-trixie-containers';

/**
 * A privileged node container per pool, through a Docker API: one engine
 * for the run (DOCKER_HOST's, or a podman service the harness starts), each
 * pool's node image imported into it, our agent as the container's PID 1.
 * Every session is one more connection to the agent's socket.
 */
export const containerBackend: PoolBackend = {
  name: 'container',
  placement: 'host',
  tempPrefixes: [],

  async provision(p, ctx) {
    const image = await provisionNodeImage(p, ctx);
    ctx.progress(p.pool.name, `image ${p.pool.image}: ${image.built ? 'built' : 'cached'}; waiting for the container engine…`);
  },

  start: startContainerPools,

  async openSession(pool, session, ctx) {
    if (!pool.container) throw new EnvironmentError(`pool ${pool.name}: its node container is not running`);
    const env = await AgentEnvironment.open({ id: `${pool.name}/${session}`, socket: pool.container.socket, session, timeoutMs: ctx.timeoutMs, backend: 'container' });
    if (pool.network) env.network = new NodeLink(env, pool.network);
    return env;
  },
};

/** Brings the container pools up (engine, images, node containers, inventory); returns what tears it all down. */
async function startContainerPools(pools: readonly ProvisionedPool[], o: StartContext): Promise<() => Promise<void>> {
  const live = pools.filter((p) => p.image && !p.planned.error);
  if (!live.length) return async () => undefined;
  const started = performance.now();
  let engine: ContainerEngine;
  try {
    for (const p of live) o.progress(p.pool.name, 'starting the container engine…');
    const engineRootfs = process.env.DOCKER_HOST
      ? ''
      : (
          await resolveImage(ENGINE_IMAGE, o.loaded.images[ENGINE_IMAGE]!, {
            cacheDir: o.cacheDir,
            buildTimeoutMs: o.timeouts.imageBuildMs,
            ...(o.mirror ? { mirror: o.mirror } : {}),
            signal: o.signal,
          })
        ).rootfs;
    engine = await startEngine({ hostDir: join(o.workRoot, 'container-engine'), engineRootfs, helper: o.natives.helper, timeoutMs: o.timeouts.environmentMs });
  } catch (e) {
    for (const p of live) failPool(p, e, o.progress);
    return async () => undefined;
  }
  const containers: NodeContainer[] = [];
  await Promise.all(
    live.map(async (p) => {
      const t0 = performance.now();
      try {
        o.progress(p.pool.name, `importing ${p.image!.name} into ${engine.description}…`);
        const ref = await ensureEngineImage(engine, p.image!.name, p.image!.key, p.image!.rootfs, o.timeouts.imageBuildMs);
        o.progress(p.pool.name, `starting the node container (${ref})…`);
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
        const env = await AgentEnvironment.open({ id: `${p.pool.name}/inventory`, socket: nc.socket, session: 'inventory', timeoutMs: o.timeouts.environmentMs, backend: 'container' });
        try {
          // The node container's own network namespace (started with none: loopback only) gets a veth on the run's bridge.
          if (o.network) p.planned.network = (await configureInside(env, await plugNetns(o.network, await nc.hostPid(), p.pool.name))).toJSON();
          const extras = { container: { engine: engine.description, image: ref, containerId: nc.containerId.slice(0, 12) } };
          const inv = await probePool(p, env, { hwBreakpoints: o.natives.probes.hwBreakpoints, commandMs: o.timeouts.commandMs, extras });
          p.planned.container = { socket: nc.socket };
          o.progress(p.pool.name, `ready: node container on ${engine.description}, criu ${inv.criuVersion ?? 'not found'}`);
        } finally {
          await env.dispose();
        }
      } catch (e) {
        failPool(p, e, o.progress);
      }
    }),
  );
  for (const p of live) p.phases.provisionMs += performance.now() - started - p.phases.bootMs;
  return async () => {
    await Promise.all(containers.map((c) => c.dispose()));
    await engine.dispose();
  };
}
