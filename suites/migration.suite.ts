/**
 * migration: dump on one pool, restore on another. For every pair the run
 * has up now (plan.migrations: source and destination both started; the
 * diagonal, source = destination, is the plain round trip), each workload
 * in each mode: start on the source, dump with the source's CRIU, move the
 * images and the workload's files to the same path on the destination
 * through the host, restore with the destination's CRIU on its kernel, and
 * the workload verifies itself there. A failed restore also tries the
 * playbook's fallback (the same images on the source). Pairs run one after
 * another (their figures are timings). The steps live in src/runner/migration.ts.
 */
import { afterAll, describe, inject, test } from 'vitest';
import { basename, dirname } from 'node:path';
import { Criu } from '../src/criu/driver.ts';
import type { Environment } from '../src/environments/environment.ts';
import type { MigrationPair, PlannedPool } from '../src/plan/plan.ts';
import { settle } from '../src/runner/cell.ts';
import { openEnvironment } from '../src/runner/environments.ts';
import { MIGRATION_BASE, attemptMigration, migrationCases, type MigrationNode } from '../src/runner/migration.ts';
import { aggregate, type Attempt } from '../src/runner/repeat.ts';
import { attemptRuntimeMigration } from '../src/runner/migration-runtime.ts';
import { attemptCriMigration, criImageWorkloads, CriMigrationNodes } from '../src/runner/migration-cri.ts';
import { transitDir } from '../src/runner/transfer.ts';
import { EXTERNAL_TCP_WORKLOAD } from '../src/runner/migration-tcp.ts';
import { remedyCell, RemedyCannotRun } from '../src/runner/remedy.ts';
import { MIGRATION_SESSION } from '../src/suites/migration.needs.ts';
import { audit } from '../src/artifacts/audit.ts';
import { keepSet, notKept, type KeepResult } from '../src/artifacts/store.ts';

const SUITE = 'migration';
const plan = inject('plan');
const t = plan.settings.timeouts;
const pairs = plan.settings.suites.includes(SUITE) && plan.migrations ? plan.migrations.pairs : [];
const poolOf = (name: string): PlannedPool => plan.migrations!.pools.find((p) => p.name === name)!;

// One node per pool, opened when a pair first needs it, shared by every pair that names the pool.
const nodes = new Map<string, Promise<MigrationNode>>();
function node(name: string): Promise<MigrationNode> {
  let n = nodes.get(name);
  if (!n) {
    n = openNode(poolOf(name));
    nodes.set(name, n);
  }
  return n;
}

async function openNode(pool: PlannedPool): Promise<MigrationNode> {
  const env: Environment = await openEnvironment(plan, pool, MIGRATION_SESSION, { workloads: false });
  try {
    if (!`${MIGRATION_BASE}/`.startsWith(`${env.workDir}/`) && MIGRATION_BASE !== env.workDir)
      throw new Error(`pool ${pool.name}: its ${MIGRATION_SESSION} session works in ${env.workDir}, not under ${MIGRATION_BASE} (migrations need the same path on every node)`);
    await env.makeDir(`${MIGRATION_BASE}/bin`);
    for (const bin of Object.values(plan.natives.workloads)) await env.copyIn(bin, binaryOf(bin));
    return { pool: pool.name, env, criu: new Criu(env, pool.criuEnv, t.criuMs, { hwBreakpoints: pool.hwBreakpoints }), criuVersion: pool.criuVersion, cpu: pool.cpu };
  } catch (e) {
    await env.dispose();
    throw e;
  }
}

function binaryOf(hostBinary: string): string {
  return `${MIGRATION_BASE}/bin/${basename(hostBinary).replace(/-[0-9a-f]{16}$/, '')}`;
}

// Cold's downtime per pair and workload: every other mode of the same pair (from any group) is measured against it.
const coldDowntime = new Map<string, number>();

// Mode cri: one containerd per pool's node, brought up by the first cri cell that needs it.
const criNodes = new CriMigrationNodes();
function criNode(n: MigrationNode) {
  const pool = poolOf(n.pool);
  return criNodes.get(n.pool, () => ({
    node: n,
    pause: plan.natives.pause,
    registry: plan.natives.registry,
    binaries: Object.fromEntries(criImageWorkloads(plan.natives.workloads).map((w) => [w, binaryOf(plan.natives.workloads[w]!)])),
    tag: `${plan.runId}-${n.pool}-mig-cri`.replace(/[^A-Za-z0-9_.-]/g, '_'),
    timeouts: t,
    criuEnv: pool.criuEnv,
  }));
}

afterAll(async () => {
  for (const [pool, left] of Object.entries(await criNodes.stopAll())) console.error(`${pool} (migration): containerd left behind: ${left.join('; ')}`);
  await Promise.all([...nodes.values()].map(async (n) => (await n.catch(() => undefined))?.env.dispose()));
});

// Like every suite: describe(pool) › describe(suite) › test(check); the pool is the source, the check names the destination.
const sources = [...new Set(pairs.map((p) => p.source))].map((name) => ({ name }));
describe.each(sources)('$name', ({ name }) => {
  describe(SUITE, { concurrent: false }, () => {
    for (const pair of pairs.filter((p) => p.source === name)) pairTests(pair);
  });
});

/** The cells of one pair, in order (cold first: the other modes report their downtime relative to it). */
function pairTests(pair: MigrationPair): void {
  const source = poolOf(pair.source);
  const modes = [...pair.modes].sort((a, b) => Number(b === 'cold') - Number(a === 'cold'));
  const cases = migrationCases({ ...pair, modes }, source.bigMemMiB ?? plan.settings.bigMemMiB);

  test.for(cases)('$check', async (c, ctx) => {
    const started = new Date();
    const id = { pool: pair.source, suite: SUITE, check: c.check, workload: c.workload, mode: c.mode, source: pair.source, destination: pair.destination, ...(c.sizeMiB ? { sizeMiB: c.sizeMiB } : {}), ...(c.runtime ? { runtime: c.runtime } : {}) };
    let src: MigrationNode;
    let dst: MigrationNode;
    try {
      [src, dst] = await Promise.all([node(pair.source), node(pair.destination)]);
    } catch (e) {
      settle(ctx, id, started, { status: 'ERROR', reason: `harness: cannot open the migration nodes: ${(e as Error).message}`, durations: { totalMs: 0 } });
      return;
    }
    const name = `${c.check.replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
    const attempts: Attempt[] = [];
    const kept: KeepResult[] = [];
    for (let i = 1; i <= plan.settings.repeat; i++) {
      const dir = `${MIGRATION_BASE}/cells/${name}${plan.settings.repeat > 1 ? `/${i}` : ''}`;
      const transit = await transitDir(`${source.hostWorkDir}/migration-transit`, `${name}-${i}`);
      const a = c.mode === 'cri'
        ? await attemptCriMigration(c, { source: { pool: pair.source, env: src.env, cri: await criNode(src) }, destination: { pool: pair.destination, env: dst.env, cri: await criNode(dst) }, dir, transit, timeouts: t, ...(c.workload === EXTERNAL_TCP_WORKLOAD ? { externalPeer: { network: plan.network, guard: plan.natives.guard, peerBinary: plan.natives.workloads[c.workload]!, hostDir: `${source.hostWorkDir}/migration-peer/${name}-${i}` } } : {}), signal: ctx.signal })
        : c.mode === 'runtime'
        ? await attemptRuntimeMigration(c, {
            source: { node: src, pool: source },
            destination: { node: dst, pool: poolOf(pair.destination) },
            dir,
            binaries: Object.fromEntries(Object.entries(plan.natives.workloads).map(([w, bin]) => [w, binaryOf(bin)])),
            timeouts: t,
            tag: `${plan.runId}-${name}-${i}`.replace(/[^A-Za-z0-9_.-]/g, '_'),
            transit,
            signal: ctx.signal,
          })
        : await attemptMigration(c, {
        source: src,
        destination: dst,
        dir,
        binary: binaryOf(plan.natives.workloads[c.workload]!),
        transit,
        timeouts: t,
        preDumps: pair.preDumps,
        coldDowntimeMs: coldDowntime.get(`${pair.source}>${pair.destination}/${c.workload}/${c.sizeMiB ?? ''}`),
        ...(c.workload === EXTERNAL_TCP_WORKLOAD ? { externalPeer: { network: plan.network, guard: plan.natives.guard, peerBinary: plan.natives.workloads[c.workload]!, serviceAddress: pair.serviceAddress, hostDir: `${source.hostWorkDir}/migration-peer/${name}-${i}` } } : {}),
        signal: ctx.signal,
      });
      attempts.push(a);
      if (c.mode === 'cold' && a.status === 'PASS' && a.metrics.migration?.downtimeMs !== undefined) coldDowntime.set(`${pair.source}>${pair.destination}/${c.workload}/${c.sizeMiB ?? ''}`, a.metrics.migration.downtimeMs);
      if (plan.keepArtifacts && plan.artifacts) {
        // One attempt's source and destination images are one set: kept whole (quota, encryption) or not at all.
        const parts = [{ from: src.env, path: dir, as: 'source' }, ...(dst.env !== src.env ? [{ from: dst.env, path: dir, as: 'destination' }] : [])];
        kept.push(await keepSet(plan.artifacts, plan.audit, { pool: pair.source, suite: SUITE, check: c.check }, `${pair.source}/${SUITE}/cells/${name}/${i}`, parts));
      }
      for (const env of new Set([src.env, dst.env])) {
        await env.remove(dir);
        await audit(plan.audit, { event: 'artifact.deleted', runId: plan.runId, by: 'cell', path: dir, node: env.id, pool: pair.source, suite: SUITE, check: c.check });
      }
      if (a.status === 'SKIP' || a.status === 'ERROR') break;
    }
    const draft = aggregate(attempts);
    if (plan.keepArtifacts) {
      const first = kept.find((k) => k.kept);
      const refused = kept.find((k) => !k.kept);
      draft.artifacts = first ? dirname(first.path) : notKept(refused && !refused.kept ? refused.reason : 'nothing to keep');
    }
    // A FAIL whose diagnosis has a remedy: the migration once more with it, on both nodes (its environment reaches both CRIUs and the workload).
    const destination = poolOf(pair.destination);
    const inEffect = Object.fromEntries(Object.entries(source.criuEnv).filter(([k, v]) => destination.criuEnv[k] === v));
    const remedyDir = `${MIGRATION_BASE}/cells/${name}.remedy`;
    const remedy = await remedyCell(
      { plan, pool: source, suite: SUITE, check: c.check, env: src.env },
      draft,
      async (dir, { remedy: r }) => {
        if (c.mode === 'runtime' || c.mode === 'cri') throw new RemedyCannotRun(`a migration through ${c.mode === 'cri' ? 'CRI' : 'a container runtime'} is not re-run with a remedy`);
        if (r.runtime) throw new RemedyCannotRun(`the remedy is another container runtime (${r.runtime}), and this migration moves a process, not a container`);
        const env = r.env ?? {};
        const options = r.criuOptions ?? [];
        const fixed = (n: MigrationNode): MigrationNode => ({ ...n, criu: n.criu.withRemedy(env, options) });
        const transit = await transitDir(`${source.hostWorkDir}/migration-transit`, `${name}-remedy`);
        return attemptMigration(c, {
          source: fixed(src),
          destination: fixed(dst),
          dir,
          binary: binaryOf(plan.natives.workloads[c.workload]!),
          transit,
          timeouts: t,
          preDumps: pair.preDumps,
          ...(Object.keys(env).length ? { workloadEnv: env } : {}),
          ...(c.workload === EXTERNAL_TCP_WORKLOAD ? { externalPeer: { network: plan.network, guard: plan.natives.guard, peerBinary: plan.natives.workloads[c.workload]!, serviceAddress: pair.serviceAddress, hostDir: `${source.hostWorkDir}/migration-peer/${name}-remedy` } } : {}),
          signal: ctx.signal,
        });
      },
      { inEffect, signal: ctx.signal, dir: remedyDir, cleanup: async (dir) => void (dst.env !== src.env ? await dst.env.remove(dir) : undefined) },
    );
    if (remedy) draft.remedy = remedy;
    settle(ctx, id, started, draft);
  });
}
