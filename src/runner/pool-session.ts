import { afterAll, beforeAll } from 'vitest';
import { Criu } from '../criu/driver.ts';
import type { Environment } from '../environments/environment.ts';
import { openEnvironment } from './environments.ts';
import type { PlannedPool, RunPlan } from '../plan/plan.ts';

export interface PoolSession {
  env: Environment;
  criu: Criu;
}

/**
 * Registers, inside a suite's per-pool describe, the hooks that open the
 * pool's environment for this suite (and its CRIU driver) before the checks
 * and dispose of it after them. The returned object is filled by then.
 */
export function poolSession(plan: RunPlan, pool: PlannedPool, suite: string, opts: { criuTimeoutMs: number; workloads: boolean }): PoolSession {
  const s = {} as PoolSession;
  beforeAll(async () => {
    s.env = await openEnvironment(plan, pool, suite, { workloads: opts.workloads });
    s.criu = new Criu(s.env, pool.criuEnv, opts.criuTimeoutMs, { hwBreakpoints: pool.hwBreakpoints });
  }, plan.settings.timeouts.environmentMs + 30_000);
  afterAll(async () => {
    await s.env?.dispose();
  });
  return s;
}
