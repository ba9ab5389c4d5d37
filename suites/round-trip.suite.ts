/**
 * round-trip: for each workload, start → ready → criu dump (the tree must
 * be gone) → criu restore → the workload checks its own state and says PASS.
 * Only that PASS makes the cell PASS. Variants: counter/pre-dump (SKIPs where
 * dirty tracking is missing), counter/leave-running, big-mem at several
 * sizes. With settings.repeat = N each cell runs N times (success rate,
 * p50/p95/max). The steps live in src/runner/round-trip.ts.
 */
import { describe, inject, test } from 'vitest';
import { settle } from '../src/runner/cell.ts';
import { binaryPath, workloadBinaries } from '../src/runner/environments.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { needs } from '../src/suites/round-trip.needs.ts';
import { repeatCell } from '../src/runner/repeat.ts';
import { remedyCell, RemedyCannotRun } from '../src/runner/remedy.ts';
import { classCriuFlags } from '../src/criu/commands.ts';
import { attemptRoundTrip, planCases } from '../src/runner/round-trip.ts';

const SUITE = 'round-trip';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;

// Pools run side by side (up to maxConcurrency); the cells of one pool run in order.
describe.concurrent.each(pools)('$name', (pool) => {
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.criuMs, workloads: needs.copyWorkloads });

  const cases = planCases({ ...plan.settings, bigMemMiB: pool.bigMemMiB ?? plan.settings.bigMemMiB });
  describe(SUITE, { concurrent: false }, () => {
    test.for(cases)('$check', async (c, ctx) => {
      const started = new Date();
      const binary = binaryPath(session.env, workloadBinaries(plan, pool)[c.workload]!);
      const where = { plan, pool, suite: SUITE, check: c.check, env: session.env };
      const draft = await repeatCell(where, (dir) => attemptRoundTrip(c, { env: session.env, criu: session.criu, binary, dir, timeouts: t, signal: ctx.signal }));
      // A FAIL whose diagnosis has a remedy: once more with it (its environment reaches CRIU and the workload).
      const remedy = await remedyCell(
        where,
        draft,
        async (dir, { remedy: r }) => {
          if (r.runtime) throw new RemedyCannotRun(`the remedy is another container runtime (${r.runtime}), and the ${SUITE} suite runs processes, not containers`);
          const env = r.env ?? {};
          // CRIU's options go on every dump, pre-dump and restore as written (an option the class has already is not repeated).
          const have = new Set(classCriuFlags(c.criu ?? []));
          const options = (r.criuOptions ?? []).filter((o) => !have.has(o));
          return attemptRoundTrip(c, { env: session.env, criu: session.criu.withRemedy(env, options), binary, dir, timeouts: t, signal: ctx.signal, ...(Object.keys(env).length ? { workloadEnv: env } : {}) });
        },
        { inEffect: pool.criuEnv, signal: ctx.signal },
      );
      if (remedy) draft.remedy = remedy;
      const libc = pool.fixtureLibc ? { fixtureLibc: pool.fixtureLibc } : {};
      settle(ctx, { pool: pool.name, suite: SUITE, check: c.check, workload: c.workload, mode: c.mode, ...(c.sizeMiB ? { sizeMiB: c.sizeMiB } : {}), ...libc }, started, draft);
    });
  });
});
