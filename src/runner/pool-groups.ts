import { totalmem } from 'node:os';
import type { ProvisionedPool, StartContext } from '../backends/pool-backend.ts';
import { backendOf } from '../backends/registry.ts';
import { coResidentGroups } from '../plan/migration-pairs.ts';

export interface GroupOptions {
  start: StartContext;
  jobs: number;
  signal?: AbortSignal | undefined;
  /** Migration pairs: their two pools must be up at the same time. */
  pairs?: readonly { source: string; destination: string }[];
  /** Runs the per-pool suites on POOLS (all up); UP is every pool up at that moment (POOLS and the host pools kept up for migrations). */
  runSuites(pools: readonly ProvisionedPool[], up: readonly ProvisionedPool[]): Promise<void>;
}

/**
 * Starts the provisioned pools group by group, runs the suites on each group
 * and stops it: first every pool on this machine's kernel together, then the
 * others in waves that fit the cores and the memory. Pools linked by
 * migration pairs go into the same wave; when a pair links a host pool with
 * a VM, the host pools stay up through every wave.
 */
export async function runInGroups(provisioned: readonly ProvisionedPool[], o: GroupOptions): Promise<void> {
  const up = provisioned.filter((p) => !p.planned.error);
  const isHost = (p: ProvisionedPool) => backendOf(p.pool.backend).placement === 'host';
  const host = up.filter(isHost);
  const waved = up.filter((p) => !isHost(p));
  const placement = new Map(up.map((p) => [p.pool.name, isHost(p)]));
  const pairs = (o.pairs ?? []).filter((x) => placement.has(x.source) && placement.has(x.destination));
  const keepHost = pairs.some((x) => placement.get(x.source) !== placement.get(x.destination));

  const hostGroup = await startGroup(host, o);
  let hostStopped = false;
  try {
    if (hostGroup.pools.length) await o.runSuites(hostGroup.pools, hostGroup.pools);
    if (!keepHost) {
      hostStopped = true;
      await hostGroup.stop();
    }
    const units = coResidentGroups(
      waved.map((p) => p.pool.name),
      pairs,
    ).map((names) => names.map((n) => waved.find((p) => p.pool.name === n)!));
    for (const wave of packWaves(units, o.jobs, Math.floor((totalmem() / 2 ** 20) * 0.75))) {
      if (o.signal?.aborted) break;
      const g = await startGroup(wave, o);
      try {
        if (g.pools.length) await o.runSuites(g.pools, keepHost ? [...hostGroup.pools, ...g.pools] : g.pools);
      } finally {
        await g.stop();
      }
    }
  } finally {
    if (!hostStopped) await hostGroup.stop();
  }
}

/** Each backend starts its pools of the group; returns those that came up and what stops them all. */
async function startGroup(group: readonly ProvisionedPool[], o: GroupOptions): Promise<{ pools: ProvisionedPool[]; stop: () => Promise<void> }> {
  if (!group.length) return { pools: [], stop: async () => {} };
  const byBackend = new Map<ProvisionedPool['pool']['backend'], ProvisionedPool[]>();
  for (const p of group) byBackend.set(p.pool.backend, [...(byBackend.get(p.pool.backend) ?? []), p]);
  const started: { pools: ProvisionedPool[]; stop: () => Promise<void> }[] = [];
  const stop = async () => {
    await Promise.all(
      started.map(async ({ pools, stop }) => {
        const t0 = performance.now();
        await stop();
        for (const p of pools) p.phases.teardownMs = performance.now() - t0;
      }),
    );
  };
  const results = await Promise.allSettled([...byBackend].map(async ([name, pools]) => started.push({ pools, stop: await backendOf(name).start(pools, o.start) })));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { pools: group.filter((p) => !p.planned.error), stop };
}

/**
 * Groups units of pools (pools that must be up together) into waves: at most
 * `jobs` pools at once unless one unit is bigger, and no more guest memory
 * than the budget (a unit bigger than the budget runs alone).
 */
export function packWaves<T extends { pool: { vm: { memoryMiB: number } } }>(units: readonly (readonly T[])[], jobs: number, budgetMiB: number): T[][] {
  const waves: T[][] = [];
  let cur: T[] = [];
  let mem = 0;
  for (const unit of units) {
    const m = unit.reduce((s, p) => s + p.pool.vm.memoryMiB, 0);
    if (cur.length && (cur.length + unit.length > Math.max(jobs, unit.length) || mem + m > budgetMiB)) {
      waves.push(cur);
      cur = [];
      mem = 0;
    }
    cur.push(...unit);
    mem += m;
  }
  if (cur.length) waves.push(cur);
  return waves;
}
