import { basename } from 'node:path';
import { backendOf } from '../backends/registry.ts';
import type { Environment } from '../environments/environment.ts';
import type { PlannedPool, RunPlan } from '../plan/plan.ts';

/**
 * Opens session SESSION of a started pool in a suite worker (through the
 * pool's backend; suites never know which), with the workload binaries
 * copied into WORKDIR/bin when the suite runs workloads (into a VM they
 * travel over the agent's channel: not for suites that never start one).
 */
export async function openEnvironment(plan: RunPlan, pool: PlannedPool, session: string, opts: { workloads: boolean }): Promise<Environment> {
  const env = await backendOf(pool.backend).openSession(pool, session, { helper: plan.natives.helper, timeoutMs: plan.settings.timeouts.environmentMs, network: plan.network });
  if (!opts.workloads) return env;
  try {
    await env.makeDir(`${env.workDir}/bin`);
    for (const bin of Object.values(workloadBinaries(plan, pool))) await env.copyIn(bin, binaryPath(env, bin));
    return env;
  } catch (e) {
    await env.dispose();
    throw e;
  }
}

/** Host paths of a pool's workload binaries: built in its node image (settings.workloadBuild: image) or on this machine. */
export function workloadBinaries(plan: RunPlan, pool: PlannedPool): Record<string, string> {
  return pool.workloads ?? plan.natives.workloads;
}

/** Where a workload binary lives inside the environment (its cache name minus the hash). */
export function binaryPath(env: Environment, hostBinary: string): string {
  return `${env.workDir}/bin/${basename(hostBinary).replace(/-[0-9a-f]{16}$/, '')}`;
}
