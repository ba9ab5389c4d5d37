/**
 * runtime: checkpoint/restore of containers, the way operators do it, with
 * the runtimes the node image ships (runc, crun, podman; found by the
 * inventory). Per runtime: can it run the workload container at all; round
 * trips of a counter, a process tree, an established TCP connection with
 * its peer (--tcp-established) and file locks (--file-locks); a checkpoint
 * with --leave-running; pre-dump then dump; and for podman a checkpoint
 * exported to an archive and restored with --import on another node (a
 * second environment of the pool with its own storage). A runtime that
 * cannot checkpoint here SKIPs naming why. The steps live in
 * src/runner/container-round-trip.ts.
 */
import { afterAll, describe, inject, test } from 'vitest';
import { settle } from '../src/runner/cell.ts';
import { containerCases } from '../src/runner/container-cases.ts';
import { attemptContainerRoundTrip } from '../src/runner/container-round-trip.ts';
import { binaryPath, openEnvironment, workloadBinaries } from '../src/runner/environments.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { repeatCell } from '../src/runner/repeat.ts';
import { needs, PEER_SESSION } from '../src/suites/runtime.needs.ts';
import type { Environment } from '../src/environments/environment.ts';
import type { ContainerRuntime } from '../src/runtimes/container-runtime.ts';
import { createRuntime } from '../src/runtimes/factory.ts';
import type { PlannedPool, RunPlan } from '../src/plan/plan.ts';

const SUITE = 'runtime';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;

function binariesIn(p: RunPlan, pool: PlannedPool, env: Environment): Record<string, string> {
  return Object.fromEntries(needs.workloads.map((w) => [w, binaryPath(env, workloadBinaries(p, pool)[w]!)]));
}

// Pools run side by side (up to maxConcurrency); the cells of one pool run in order.
describe.concurrent.each(pools)('$name', (pool) => {
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.criuMs, workloads: needs.copyWorkloads });
  const wanted = pool.runtimes.filter((r) => r.version !== null && plan.settings.runtimes.includes(r.name));
  const tag = `${plan.runId}-${pool.name}`.replace(/[^A-Za-z0-9_.-]/g, '_');

  describe(SUITE, { concurrent: false }, () => {
    if (!wanted.length) {
      test('runtimes', (ctx) => {
        settle(ctx, { pool: pool.name, suite: SUITE, check: 'runtimes' }, new Date(), {
          status: 'SKIP',
          reason: `capability missing: no container runtime (${plan.settings.runtimes.join(', ')}) in this node image`,
          durations: { totalMs: 0 },
        });
      });
      return;
    }
    for (const info of wanted) {
      describe(info.name, () => {
        let rt: ContainerRuntime;
        let prepared: { ok: boolean; why: string; excerpt: string[] } | undefined;
        let peer: { env: Environment; runtime: ContainerRuntime } | undefined;
        let peerError: string | undefined;

        const prepare = async () => {
          if (prepared) return prepared;
          rt = createRuntime(info, { env: session.env, criuEnv: pool.criuEnv, tag: `${tag}-${info.name}`, timeoutMs: t.criuMs, criu: session.criu, probeTimeoutMs: t.commandMs });
          const r = await rt.prepare(binariesIn(plan, pool, session.env));
          prepared = { ok: r.ok, why: r.ok ? '' : `preparing ${info.name} failed (exit ${r.result.exitCode}): ${(r.result.stderr || r.result.stdout).trim().split('\n').slice(-2).join(' | ')}`, excerpt: r.excerpt };
          return prepared;
        };
        afterAll(async () => {
          await rt?.dispose();
          if (peer) {
            await peer.runtime.dispose();
            await peer.env.dispose();
          }
        });

        test.for(containerCases(info.name))('$check', async (c, ctx) => {
          const started = new Date();
          const id = { pool: pool.name, suite: SUITE, check: c.check, workload: c.workload, mode: c.mode, runtime: info.name, ...(c.mode === 'migrate' ? { source: pool.name, destination: pool.name } : {}), ...(pool.fixtureLibc ? { fixtureLibc: pool.fixtureLibc } : {}) };
          const p = await prepare();
          if (!p.ok) return settle(ctx, id, started, { status: 'ERROR', reason: p.why, durations: { totalMs: 0 }, logExcerpt: p.excerpt });
          const exportImport = rt.capabilities.exportImport;
          if (c.mode === 'migrate' && exportImport && rt.capabilities.checkpoint.ok && !peer && !peerError) {
            try {
              const env = await openEnvironment(plan, pool, PEER_SESSION, { workloads: needs.copyWorkloads });
              const there = exportImport.peerOn(env);
              peer = { env, runtime: there.runtime };
              const r = await there.prepare(binariesIn(plan, pool, env));
              if (!r.ok) peerError = `preparing ${info.name} on the second node failed: ${r.result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
            } catch (e) {
              peerError = `the second node could not be brought up: ${(e as Error).message}`;
            }
          }
          if (c.mode === 'migrate' && peerError) return settle(ctx, id, started, { status: 'ERROR', reason: peerError, durations: { totalMs: 0 } });
          const draft = await repeatCell(
            { plan, pool, suite: SUITE, check: c.check, env: session.env },
            async (dir, i) => {
              await session.env.makeDir(dir);
              const cid = `cc-${c.check.replace(/[^A-Za-z0-9]+/g, '-')}-${i}`;
              return attemptContainerRoundTrip(c, { env: session.env, runtime: rt, dir, id: cid, timeouts: t, criu: session.criu, peer, signal: ctx.signal });
            },
            async (dir) => {
              if (peer && c.mode === 'migrate') await peer.env.remove(dir);
            },
          );
          settle(ctx, id, started, draft);
        });
      });
    }
  });
});
