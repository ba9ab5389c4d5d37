import { join } from 'node:path';
import { NamespaceEnvironment } from '../../environments/namespace/namespace-environment.ts';
import { configureInside, plugNetns } from '../../environments/network/node-link.ts';
import { mkdirPrivate, removeTree } from '../../util/fs.ts';
import { failPool, probePool } from '../inventory.ts';
import { provisionNodeImage, type PoolBackend } from '../pool-backend.ts';

/**
 * The host kernel: each session is a fresh set of namespaces (cc-ns as
 * PID 1) over the node image's rootfs; nothing runs between sessions, so
 * starting a pool is reading its inventory in a short-lived one.
 */
export const namespaceBackend: PoolBackend = {
  name: 'namespace',
  placement: 'host',
  tempPrefixes: [],

  async provision(p, ctx) {
    const image = await provisionNodeImage(p, ctx);
    ctx.progress(p.pool.name, `image ${p.pool.image}: ${image.built ? `built in ${(image.buildMs / 1000).toFixed(0)} s` : 'cached'}; reading inventory…`);
  },

  async start(pools, ctx) {
    await Promise.all(
      pools.map(async (p) => {
        const started = performance.now();
        const dir = join(p.planned.hostWorkDir, 'inventory');
        try {
          await mkdirPrivate(dir);
          const env = await NamespaceEnvironment.start({ id: `${p.pool.name}/inventory`, rootfs: p.planned.rootfs, hostWorkDir: dir, helper: ctx.natives.helper, timeoutMs: ctx.timeouts.environmentMs });
          try {
            const inv = await probePool(p, env, { hwBreakpoints: ctx.natives.probes.hwBreakpoints, commandMs: ctx.timeouts.commandMs });
            ctx.progress(p.pool.name, `ready: kernel ${inv.kernelRelease}, criu ${inv.criuVersion ?? 'not found'}`);
          } finally {
            await env.dispose();
            await removeTree(dir);
          }
        } catch (e) {
          failPool(p, e, ctx.progress);
        } finally {
          p.phases.provisionMs += performance.now() - started;
        }
      }),
    );
    return async () => undefined;
  },

  async openSession(pool, session, ctx) {
    const hostWorkDir = join(pool.hostWorkDir, session);
    await mkdirPrivate(hostWorkDir);
    const env = await NamespaceEnvironment.start({ id: `${pool.name}/${session}`, rootfs: pool.rootfs, hostWorkDir, helper: ctx.helper, timeoutMs: ctx.timeoutMs });
    if (!ctx.network) return env;
    // Its own network namespace on the run's bridge: a veth that goes with the namespace.
    try {
      env.network = await configureInside(env, await plugNetns(ctx.network, env.initPid, env.id));
      return env;
    } catch (e) {
      await env.dispose();
      throw e;
    }
  },
};
