/**
 * pilot: the operator's own services (config pilots:), each on the pools it
 * names. Per pilot: NAME/start (the service starts as its user, is ready,
 * seeded, verified: the baseline), then its stages (NAME/leave-running,
 * NAME/checkpoint-restore), each over the pilot's attempts with a client
 * outside the service's tree probing throughout; then the variants
 * (NAME/checkpoint-restore/reconnect, NAME/checkpoint-restore/pre-copy)
 * only when the primary stage failed or missed a criterion they could help
 * with. The cells carry the numbers; verdicts are judged from them elsewhere
 * (PILOT-CONTRACT). The steps live in src/runner/pilot-*.ts.
 */
import { beforeAll, describe, inject, test } from 'vitest';
import { settle, type CellDraft, type CellMeta } from '../src/runner/cell.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { pilotStages, runStage, stageTimeoutMs, variantNotNeeded } from '../src/runner/pilot-run.ts';
import { needs } from '../src/suites/pilot.needs.ts';
import { audit } from '../src/artifacts/audit.ts';
import { keepSet, notKept } from '../src/artifacts/store.ts';

const SUITE = 'pilot';
const plan = inject('plan');
const t = plan.settings.timeouts;
const pilots = plan.pilots ?? [];
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error && pilots.some((x) => x.pools.includes(p.name))) : [];

describe.concurrent.each(pools)('$name', (pool) => {
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.criuMs, workloads: needs.copyWorkloads });
  let probe = '';
  beforeAll(async () => {
    await session.env.makeDir(`${session.env.workDir}/bin`);
    probe = `${session.env.workDir}/bin/cc-probe`;
    await session.env.copyIn(plan.natives.probes.client, probe);
  });

  describe(SUITE, { concurrent: false }, () => {
    for (const pilot of pilots.filter((x) => x.pools.includes(pool.name))) {
      const cells = new Map<string, CellDraft>();
      for (const stage of pilotStages(pilot)) {
        const check = `${pilot.name}/${stage}`;
        test(check, { timeout: stageTimeoutMs(pilot, t) }, async (ctx) => {
          const started = new Date();
          const id = { pool: pool.name, suite: SUITE, check, pilot: pilot.name, mode: stage };
          const base = cells.get(`${pilot.name}/start`);
          if (stage.includes('/')) {
            const why = variantNotNeeded(stage, pilot, cells.get(`${pilot.name}/checkpoint-restore`));
            if (why) {
              (ctx.task.meta as CellMeta).omitted = why;
              ctx.skip(why);
              return;
            }
          }
          if (stage !== 'start' && base?.status !== 'PASS') {
            settle(ctx, id, started, { status: 'ERROR', reason: `not judged: ${pilot.name}/start did not pass (${base?.status ?? 'not run'}${base ? `: ${base.reason}` : ''})`, durations: { totalMs: 0 } });
            return;
          }
          const name = check.replace(/\//g, '_');
          const cellDir = `${session.env.workDir}/cells/${name}`;
          const draft = await runStage(stage, { env: session.env, criu: session.criu, pilot, probe, timeouts: t, signal: ctx.signal, cellDir, keepArtifacts: plan.keepArtifacts });
          // The stage's images: kept (quota, encryption) when the run keeps artifacts, then the work copy goes; an audit line either way.
          const ref = { pool: pool.name, suite: SUITE, check };
          if (plan.keepArtifacts && plan.artifacts) {
            const r = await keepSet(plan.artifacts, plan.audit, ref, `${pool.name}/${SUITE}/cells/${name}`, [{ from: session.env, path: cellDir, as: '' }]);
            draft.artifacts = r.kept ? r.path : notKept(r.reason);
            await session.env.remove(cellDir);
          }
          await audit(plan.audit, { event: 'artifact.deleted', runId: plan.runId, by: 'cell', path: cellDir, node: session.env.id, ...ref });
          cells.set(check, draft);
          settle(ctx, id, started, draft);
        });
      }
    }
  });
});
