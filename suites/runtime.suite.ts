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
import { needs, PEER_SESSION, REMEDY_SESSION } from '../src/suites/runtime.needs.ts';
import { remedyCell, RemedyCannotRun, type RemedyPlan } from '../src/runner/remedy.ts';
import { remedyCriuOptions } from '../src/criu/remedies.ts';
import { RUNTIME_CRIU_OPTIONS } from '../src/config/catalogue/index.ts';
import type { ContainerCase } from '../src/runner/container-cases.ts';
import type { RuntimeInfo } from '../src/runtimes/detect.ts';
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
  const remedies = remedyDrivers(pool, session, tag);
  afterAll(() => remedies.dispose());

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
          // A FAIL whose diagnosis has a remedy: once more with it, on a driver of its own (another runtime, or CRIU's environment changed).
          const remedy = await remedyCell(
            { plan, pool, suite: SUITE, check: c.check, env: session.env },
            draft,
            async (dir, r) => {
              const { runtime, env } = await remedies.driver(info, r);
              await env.makeDir(dir);
              return attemptContainerRoundTrip(remedyCase(c, r), { env, runtime, dir, id: `cc-remedy-${c.check.replace(/[^A-Za-z0-9]+/g, '-')}`, timeouts: t, criu: session.criu, signal: ctx.signal });
            },
            { inEffect: pool.criuEnv, signal: ctx.signal, envFor: async (r) => (await remedies.driver(info, r)).env },
          );
          if (remedy) draft.remedy = remedy;
          settle(ctx, id, started, draft);
        });
      });
    }
  });
});

/** The case with the remedy's CRIU options (those the runtimes pass on); a migration is not re-run. */
function remedyCase(c: ContainerCase, r: RemedyPlan): ContainerCase {
  if (c.mode === 'migrate') throw new RemedyCannotRun('an export → import cell is not re-run with a remedy (it needs a second node prepared for it)');
  const extra: Partial<ContainerCase> = {};
  // Only the options the runtimes' checkpoint/restore pass on to CRIU; another is a RemedyError (could not run, naming them).
  for (const o of remedyCriuOptions(r.remedy, RUNTIME_CRIU_OPTIONS)) extra[o === 'tcpEstablished' ? 'tcpEstablished' : 'fileLocks'] = true;
  return { ...c, ...extra };
}

/**
 * The drivers remedy re-runs use, made on first use and kept for the pool's
 * other cells: runc/crun in the suite's node under a directory of their own;
 * podman (one store per node) in a session of its own. A remedy's runtime
 * replaces the cell's (for podman: its OCI runtime); its environment is
 * added to the pool's CRIU environment (podman's wrapper hands it on).
 */
function remedyDrivers(pool: PlannedPool, session: { env: Environment; criu: import('../src/criu/driver.ts').Criu }, tag: string) {
  const made = new Map<string, Promise<{ runtime: ContainerRuntime; env: Environment }>>();
  let podman: { key: string; env: Environment; runtime?: ContainerRuntime } | undefined;
  let n = 0;
  const available = (name: string): RuntimeInfo => {
    const info = pool.runtimes.find((r) => r.name === name && r.version !== null);
    if (!info) throw new RemedyCannotRun(`runtime ${name} is not in this node image`);
    if (!info.checkpoint) throw new RemedyCannotRun(`runtime ${name} cannot checkpoint here: ${info.detail}`);
    return info;
  };
  const make = async (cell: RuntimeInfo, r: RemedyPlan) => {
    const want = r.remedy.runtime;
    if (want && want !== 'podman' && cell.name === 'podman' && want === (cell.ociRuntime ?? 'runc') && !r.remedy.env) throw new RemedyCannotRun(`podman already runs ${want} here`);
    if (want && want === cell.name && !r.remedy.env) throw new RemedyCannotRun(`the remedy's runtime ${want} is the cell's own`);
    const info: RuntimeInfo = cell.name === 'podman' && want && want !== 'podman' ? { ...available('podman'), ociRuntime: want } : want ? available(want) : cell;
    if (cell.name === 'podman' && want && want !== 'podman') available(want);
    const criuEnv = { ...pool.criuEnv, ...(r.remedy.env ?? {}) };
    const i = ++n;
    let env = session.env;
    if (info.name === 'podman') {
      if (podman) throw new RemedyCannotRun(`podman's remedy node already serves another remedy (${podman.key}) in this pool`);
      env = await openEnvironment(plan, pool, REMEDY_SESSION, { workloads: needs.copyWorkloads });
      podman = { key: r.applied, env };
    }
    const runtime = createRuntime(info, { env, criuEnv, tag: `${tag}-remedy-${i}`, timeoutMs: t.criuMs, criu: session.criu, probeTimeoutMs: t.commandMs, ...(info.name === 'podman' ? {} : { baseDir: `${env.workDir}/remedy-${i}-${info.name}` }) });
    if (podman && info.name === 'podman') podman.runtime = runtime;
    const prepared = await runtime.prepare(binariesIn(plan, pool, env));
    if (!prepared.ok) {
      await runtime.dispose();
      throw new RemedyCannotRun(`preparing ${info.name} for the remedy failed (exit ${prepared.result.exitCode}): ${(prepared.result.stderr || prepared.result.stdout).trim().split('\n').slice(-1)[0] ?? ''}`);
    }
    return { runtime, env };
  };
  return {
    driver(cell: RuntimeInfo, r: RemedyPlan) {
      const key = `${cell.name}|${cell.name === 'podman' ? 'podman' : (r.remedy.runtime ?? cell.name)}|${r.applied}`;
      let d = made.get(key);
      if (!d) made.set(key, (d = make(cell, r)));
      return d;
    },
    async dispose() {
      for (const d of made.values()) await (await d.catch(() => undefined))?.runtime.dispose();
      await podman?.env.dispose();
    },
  };
}
