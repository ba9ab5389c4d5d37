/**
 * criu-check: what the node image's CRIU says about this kernel.
 * `criu --version`, `criu check`, `criu check --all`, then every feature this
 * CRIU build names, probed on its own (`--all` hides which one is missing).
 * A missing feature is a SKIP naming it, never a PASS, and only when CRIU
 * itself said so (see featureVerdict): a probe that crashed or hung is ERROR.
 */
import { describe, inject, test } from 'vitest';
import { describeFailure } from '../src/criu/driver.ts';
import { failureStatus } from '../src/criu/diagnose.ts';
import { settle } from '../src/runner/cell.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { needs } from '../src/suites/criu-check.needs.ts';

const SUITE = 'criu-check';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;

// Pools run side by side (up to maxConcurrency); the checks of one pool run in order.
describe.concurrent.each(pools)('$name', (pool) => {
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.commandMs, workloads: needs.copyWorkloads });
  describe(SUITE, { concurrent: false }, () => {
    const id = (check: string) => ({ pool: pool.name, suite: SUITE, check });

    test('version', async (ctx) => {
      session.criu.signal = ctx.signal;
      const started = new Date();
      const { version, run } = await session.criu.version();
      settle(ctx, id('version'), started, {
        status: version ? 'PASS' : 'FAIL',
        reason: version ? `criu ${version}` : run.result.exitCode === 127 ? 'no criu in this node image' : describeFailure('criu --version', run, t.commandMs),
        durations: { totalMs: run.result.durationMs },
        diagnoses: run.diagnoses,
        logExcerpt: version ? [] : run.excerpt,
        commands: [run.argv.join(' ')],
      });
    });

    for (const [check, all] of [
      ['check', false],
      ['check --all', true],
    ] as const) {
      test(check, async (ctx) => {
        session.criu.signal = ctx.signal;
        const started = new Date();
        await session.criu.clearKdatCache();
        const run = await session.criu.check({ all });
        const out = run.text;
        // "--all" exits 1 when only optional features are missing; that names capabilities, it is not a breakage.
        const onlyOptionalMissing = check === 'check --all' && /Looks good but some kernel features are missing/.test(out);
        const missing = out
          .split('\n')
          .filter((l) => /Warn|Error/.test(l) && !/RLIMIT_NOFILE/.test(l))
          .map((l) => l.replace(/^(Warn|Error)\s*\([^)]*\):\s*/, '').trim());
        settle(ctx, id(check), started, {
          status: run.ok ? 'PASS' : onlyOptionalMissing ? 'SKIP' : failureStatus(run.diagnoses),
          reason: run.ok
            ? (/Looks good\.?/.exec(out)?.[0] ?? 'exit 0')
            : onlyOptionalMissing
              ? `optional kernel features missing: ${missing.length ? missing.join('; ') : 'criu check --all does not name them (the feature:NAME cells do)'}`
              : describeFailure(`criu ${check}`, run, t.commandMs),
          durations: { totalMs: run.result.durationMs },
          diagnoses: run.diagnoses,
          logExcerpt: run.excerpt,
          commands: [run.argv.join(' ')],
        });
      });
    }

    test.for(pool.features)('feature:%s', async (feature, ctx) => {
      session.criu.signal = ctx.signal;
      const started = new Date();
      const { run, status, reason } = await session.criu.checkFeature(feature);
      settle(ctx, { ...id(`feature:${feature}`), feature }, started, {
        status,
        reason,
        durations: { totalMs: run.result.durationMs },
        diagnoses: run.diagnoses,
        logExcerpt: run.ok ? [] : run.excerpt,
        commands: [run.argv.join(' ')],
      });
    });
  });
});
