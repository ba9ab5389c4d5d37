import { basename, join } from 'node:path';
import type { Environment } from '../environments/environment.ts';
import { NamespaceEnvironment } from '../environments/namespace/namespace-environment.ts';
import { QemuEnvironment } from '../environments/qemu/qemu-environment.ts';
import { EnvironmentError } from '../errors.ts';
import { mkdirPrivate } from '../util/fs.ts';
import type { PlannedPool, RunPlan } from './plan.ts';

/**
 * Brings a pool's environment up for one suite, with the workload binaries
 * copied into WORKDIR/bin when the suite runs workloads (into a VM they
 * travel over the agent's channel: not for suites that never start one).
 * Backends plug in here; suites never know which.
 */
export async function openEnvironment(plan: RunPlan, pool: PlannedPool, suite: string, opts: { workloads: boolean }): Promise<Environment> {
  let env: Environment;
  if (pool.backend === 'container') {
    if (!pool.container) throw new EnvironmentError(`pool ${pool.name}: its node container is not running`);
    env = await QemuEnvironment.open({ id: `${pool.name}/${suite}`, socket: pool.container.socket, session: suite, timeoutMs: plan.settings.timeouts.environmentMs, backend: 'container' });
  } else if (pool.backend === 'qemu') {
    const socket = pool.vm?.sockets[suite];
    if (!socket) throw new EnvironmentError(`pool ${pool.name}: no VM channel for suite ${suite}`);
    env = await QemuEnvironment.open({ id: `${pool.name}/${suite}`, socket, session: suite, timeoutMs: plan.settings.timeouts.environmentMs });
  } else {
    const hostWorkDir = join(pool.hostWorkDir, suite);
    await mkdirPrivate(hostWorkDir);
    env = await NamespaceEnvironment.start({
      id: `${pool.name}/${suite}`,
      rootfs: pool.rootfs,
      hostWorkDir,
      helper: plan.natives.helper,
      timeoutMs: plan.settings.timeouts.environmentMs,
    });
  }
  if (!opts.workloads) return env;
  try {
    await env.makeDir(`${env.workDir}/bin`);
    for (const bin of Object.values(plan.natives.workloads)) await env.copyIn(bin, binaryPath(env, bin));
    return env;
  } catch (e) {
    await env.dispose();
    throw e;
  }
}

/** The session name of the runtime suite's second environment of a pool (another node for podman export/import). */
export const PEER_SESSION = 'runtime-peer';

/** Where a workload binary lives inside the environment (its cache name minus the hash). */
export function binaryPath(env: Environment, hostBinary: string): string {
  return `${env.workDir}/bin/${basename(hostBinary).replace(/-[0-9a-f]{16}$/, '')}`;
}
