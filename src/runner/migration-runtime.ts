import type { Settings } from '../config/schema.ts';
import type { PlannedPool } from '../plan/plan.ts';
import { olderCriuOnDestination } from '../criu/diagnose.ts';
import type { ContainerRuntime } from '../runtimes/container-runtime.ts';
import { createRuntime, peerOptions } from '../runtimes/factory.ts';
import { attemptContainerRoundTrip } from './container-round-trip.ts';
import { MIGRATION_BASE, type MigrationCase, type MigrationNode } from './migration.ts';
import type { Attempt } from './repeat.ts';

/**
 * The runtimes a migration's `runtime` mode drives, each a cell: podman (its
 * checkpoint travels as an export archive) and runc (its images and the
 * container's bundle travel through the harness).
 */
export const MIGRATING_RUNTIMES = ['podman', 'runc'] as const;
export type MigratingRuntime = (typeof MIGRATING_RUNTIMES)[number];

export interface RuntimeMigrationContext {
  source: { node: MigrationNode; pool: PlannedPool };
  destination: { node: MigrationNode; pool: PlannedPool };
  dir: string;
  /** Workload binaries inside the nodes (the same paths on both). */
  binaries: Record<string, string>;
  timeouts: Settings['timeouts'];
  tag: string;
  /** The host directory runc's images and bundle pass through. */
  transit: string;
  signal?: AbortSignal | undefined;
}

function ended(status: Attempt['status'], reason: string, logExcerpt: string[] = []): Attempt {
  return { status, reason, durations: { totalMs: 0 }, metrics: {}, diagnoses: [], logExcerpt, commands: [], workloadOutput: [] };
}

/**
 * A container moved between pools the way its runtime does it, the
 * workload verifying itself on the destination: podman checkpoint --export
 * on the source's podman (its runc, its CRIU), the archive carried by the
 * harness, podman restore --import on the destination's own podman (the
 * steps of the runtime suite's export-import cell, with the destination
 * another pool's node); or runc checkpoint on the source, the images and the
 * container's bundle moved to the same paths, runc restore with the
 * destination's runc and CRIU. A pool whose node image has no such runtime
 * that can checkpoint makes the cell SKIP, naming it.
 */
export async function attemptRuntimeMigration(c: MigrationCase, x: RuntimeMigrationContext): Promise<Attempt> {
  const rtName = c.runtime ?? 'podman';
  const ends = [x.source, x.destination];
  const infos = ends.map((e) => e.pool.runtimes.find((r) => r.name === rtName && r.version !== null));
  for (const [i, e] of ends.entries()) {
    const info = infos[i];
    if (!info) return ended('SKIP', `capability missing: ${rtName} on ${e.pool.name} (its node image has none)`);
    if (!info.checkpoint) return ended('SKIP', `capability missing: ${rtName} checkpoint on ${e.pool.name} (${info.detail})`);
  }
  const same = x.source.node.env === x.destination.node.env;
  const made: ContainerRuntime[] = [];
  try {
    const options = (e: (typeof ends)[number]) => ({ criuEnv: e.pool.criuEnv, criu: e.node.criu, probeTimeoutMs: x.timeouts.commandMs });
    // runc keeps its containers under the same path on both nodes: the bundle moves there.
    const baseDir = rtName === 'runc' ? `${MIGRATION_BASE}/runc` : undefined;
    const rt = createRuntime(infos[0]!, { env: x.source.node.env, tag: `${x.tag}-src`, timeoutMs: x.timeouts.criuMs, baseDir, ...options(x.source) });
    made.push(rt);
    const ready = await rt.prepare(x.binaries);
    if (!ready.ok) return ended('ERROR', `preparing ${rtName} on ${x.source.pool.name} failed: ${ready.result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`, ready.excerpt);
    let peer = { env: x.source.node.env, runtime: rt };
    if (!same) {
      const ei = rt.capabilities.exportImport;
      const there = ei
        ? ei.peerOn(x.destination.node.env, peerOptions(infos[1]!, options(x.destination)))
        : (() => {
            const runtime = createRuntime(infos[1]!, { env: x.destination.node.env, tag: `${x.tag}-dst`, timeoutMs: x.timeouts.criuMs, baseDir, ...options(x.destination) });
            return { runtime, prepare: (b: Record<string, string>) => runtime.prepare(b) };
          })();
      made.push(there.runtime);
      const r = await there.prepare(x.binaries);
      if (!r.ok) return ended('ERROR', `preparing ${rtName} on ${x.destination.pool.name} failed: ${r.result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`, r.excerpt);
      peer = { env: x.destination.node.env, runtime: there.runtime };
    }
    await x.source.node.env.makeDir(x.dir);
    if (!same) await x.destination.node.env.makeDir(x.dir);
    const id = `cc-mig-${c.workload}`;
    const a = await attemptContainerRoundTrip({ check: c.check, workload: c.workload, args: c.args, mode: 'migrate' }, { env: x.source.node.env, runtime: rt, dir: x.dir, id, timeouts: x.timeouts, peer, transit: x.transit, signal: x.signal });
    // The runtime's own CRIU restored on the destination: an older one there is part of the story.
    const skew = a.status === 'FAIL' ? olderCriuOnDestination({ pool: x.source.pool.name, criuVersion: x.source.pool.criuVersion }, { pool: x.destination.pool.name, criuVersion: x.destination.pool.criuVersion }) : undefined;
    return skew ? { ...a, diagnoses: [skew, ...a.diagnoses] } : a;
  } finally {
    for (const r of made.reverse()) await r.dispose();
  }
}
