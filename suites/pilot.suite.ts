/**
 * pilot: the operator's own services (config pilots:), each on the pools it
 * names. Per pilot: NAME/start (the service starts as its user, is ready,
 * seeded, verified: the baseline), then its stages (NAME/leave-running,
 * NAME/checkpoint-restore), each over the pilot's attempts with a client
 * outside the service's tree probing throughout; then the variants
 * (NAME/checkpoint-restore/reconnect, NAME/checkpoint-restore/pre-copy)
 * only when the primary stage failed or missed a criterion they could help
 * with; then NAME/migration → DEST for each of its migrateTo that is up
 * now (checkpoint here, restore there: src/runner/pilot-migration.ts; a container through its runtime: pilot-migration-container.ts). The cells carry the numbers; verdicts are judged from them elsewhere
 * (PILOT-CONTRACT). The steps live in src/runner/pilot-*.ts.
 */
import { afterAll, beforeAll, describe, inject, test } from 'vitest';
import { Criu } from '../src/criu/driver.ts';
import type { PlannedPool } from '../src/plan/plan.ts';
import { settle, type CellDraft, type CellMeta } from '../src/runner/cell.ts';
import { openEnvironment } from '../src/runner/environments.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import type { PilotNode } from '../src/runner/pilot-migration.ts';
import { pilotStages, runMigrationStage, runStage, stageTimeoutMs } from '../src/runner/pilot-run.ts';
import { variantNotNeeded } from '../src/matrix/pilot-variants.ts';
import { transitDir } from '../src/runner/transfer.ts';
import { PILOT_MIGRATION_SESSION, needs } from '../src/suites/pilot.needs.ts';
import { audit } from '../src/artifacts/audit.ts';
import { keepSet, notKept } from '../src/artifacts/store.ts';

const SUITE = 'pilot';
const plan = inject('plan');
const t = plan.settings.timeouts;
const pilots = plan.pilots ?? [];
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error && pilots.some((x) => x.pools.includes(p.name))) : [];

// Migrations: one node per pool (session pilot-migration: the same work directory path on every node), opened when a migration first needs it.
const nodes = new Map<string, Promise<PilotNode & { probe: string }>>();
function node(pool: PlannedPool): Promise<PilotNode & { probe: string }> {
  let n = nodes.get(pool.name);
  if (!n) {
    n = (async () => {
      const env = await openEnvironment(plan, pool, PILOT_MIGRATION_SESSION, { workloads: false });
      try {
        const probe = `${env.workDir}/bin/cc-probe`;
        await env.makeDir(`${env.workDir}/bin`);
        await env.copyIn(plan.natives.probes.client, probe);
        return { pool: pool.name, env, criu: new Criu(env, pool.criuEnv, t.criuMs, { hwBreakpoints: pool.hwBreakpoints }), criuVersion: pool.criuVersion, runtimes: pool.runtimes, criuEnv: pool.criuEnv, probe };
      } catch (e) {
        await env.dispose();
        throw e;
      }
    })();
    nodes.set(pool.name, n);
  }
  return n;
}
afterAll(async () => {
  await Promise.all([...nodes.values()].map(async (n) => (await n.catch(() => undefined))?.env.dispose()));
});

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
          const containers = { runtimes: pool.runtimes, criuEnv: pool.criuEnv, tag: `pilot-${plan.runId}-${pool.name}`.replace(/[^A-Za-z0-9_.-]/g, '_') };
          const draft = await runStage(stage, { env: session.env, criu: session.criu, pilot, probe, timeouts: t, signal: ctx.signal, cellDir, keepArtifacts: plan.keepArtifacts, containers });
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
      if (pilot.stages.includes('migration'))
        for (const dest of pilot.migrateTo.filter((d) => d !== pool.name)) {
          const check = `${pilot.name}/migration → ${dest}`;
          test(check, { timeout: stageTimeoutMs(pilot, t) }, async (ctx) => {
            const started = new Date();
            const id = { pool: pool.name, suite: SUITE, check, pilot: pilot.name, mode: 'migration', source: pool.name, destination: dest };
            const base = cells.get(`${pilot.name}/start`);
            if (base?.status !== 'PASS') {
              settle(ctx, id, started, { status: 'ERROR', reason: `not judged: ${pilot.name}/start did not pass (${base?.status ?? 'not run'}${base ? `: ${base.reason}` : ''})`, durations: { totalMs: 0 } });
              return;
            }
            const there = plan.pilotDestinations?.find((p) => p.name === dest);
            if (!there) {
              settle(ctx, id, started, { status: 'ERROR', reason: `not run: pool ${dest} was not up while ${pool.name}'s pilot suite ran (a host pool's pilots migrate to host pools, a VM's to pools up in its wave)`, durations: { totalMs: 0 } });
              return;
            }
            let ends: [PilotNode & { probe: string }, PilotNode & { probe: string }];
            try {
              ends = await Promise.all([node(pool), node(there)]);
            } catch (e) {
              settle(ctx, id, started, { status: 'ERROR', reason: `harness: cannot open the migration nodes: ${(e as Error).message}`, durations: { totalMs: 0 } });
              return;
            }
            const [src, dst] = ends;
            if (src.probe !== dst.probe || src.env.workDir !== dst.env.workDir) {
              settle(ctx, id, started, { status: 'ERROR', reason: `harness: the ${PILOT_MIGRATION_SESSION} sessions of ${pool.name} and ${dest} work in ${src.env.workDir} and ${dst.env.workDir}; a migration needs the same path on both`, durations: { totalMs: 0 } });
              return;
            }
            const name = check.replace(/[^A-Za-z0-9_.-]+/g, '_');
            const cellDir = `${src.env.workDir}/cells/${name}`;
            const draft = await runMigrationStage({
              source: src,
              destination: dst,
              pilot,
              probe: src.probe,
              timeouts: t,
              // Container pilots: one tag on both nodes (their containers' cgroups; host pools share the host's cgroup tree).
              tag: `pilot-${plan.runId}-${pool.name}-mig`.replace(/[^A-Za-z0-9_.-]/g, '_'),
              signal: ctx.signal,
              cellDir,
              keepArtifacts: plan.keepArtifacts,
              transit: (i) => transitDir(`${pool.hostWorkDir}/pilot-transit`, `${name}-${i}`),
              // serviceAddress move: the clients on a client node of the run's network (host binaries, files in a root-only host directory).
              ...(pilot.serviceAddress === 'move' ? { addressMove: { network: plan.network, guard: plan.natives.guard, probe: plan.natives.probes.client, hostDir: `${pool.hostWorkDir}/pilot-client/${name}` } } : {}),
            });
            const ref = { pool: pool.name, suite: SUITE, check };
            if (plan.keepArtifacts && plan.artifacts) {
              const r = await keepSet(plan.artifacts, plan.audit, ref, `${pool.name}/${SUITE}/cells/${name}`, [{ from: src.env, path: cellDir, as: 'source' }, { from: dst.env, path: cellDir, as: 'destination' }]);
              draft.artifacts = r.kept ? r.path : notKept(r.reason);
            }
            for (const env of [src.env, dst.env]) {
              await env.remove(cellDir);
              await audit(plan.audit, { event: 'artifact.deleted', runId: plan.runId, by: 'cell', path: cellDir, node: env.id, ...ref });
            }
            settle(ctx, id, started, draft);
          });
        }
    }
  });
});
