import { totalmem } from 'node:os';
import type { ProvisionedPool, StartContext } from '../backends/pool-backend.ts';
import { backendOf } from '../backends/registry.ts';

export interface GroupOptions {
  start: StartContext;
  jobs: number;
  signal?: AbortSignal | undefined;
  /** Runs the suites on these pools (all up). */
  runSuites(pools: readonly ProvisionedPool[]): Promise<void>;
}

/**
 * Starts the provisioned pools group by group, runs the suites on each group
 * and stops it: first every pool on this machine's kernel together, then the
 * others in waves that fit the cores and the memory.
 */
export async function runInGroups(provisioned: readonly ProvisionedPool[], o: GroupOptions): Promise<void> {
  const up = provisioned.filter((p) => !p.planned.error);
  await runGroup(
    up.filter((p) => backendOf(p.pool.backend).placement === 'host'),
    o,
  );
  const waved = up.filter((p) => backendOf(p.pool.backend).placement === 'waves');
  for (const wave of packWaves(waved, o.jobs, Math.floor((totalmem() / 2 ** 20) * 0.75))) {
    if (o.signal?.aborted) break;
    await runGroup(wave, o);
  }
}

/** Each backend starts its pools of the group; the suites run on those that came up; each backend stops its own. */
async function runGroup(group: readonly ProvisionedPool[], o: GroupOptions): Promise<void> {
  if (!group.length) return;
  const byBackend = new Map<ProvisionedPool['pool']['backend'], ProvisionedPool[]>();
  for (const p of group) byBackend.set(p.pool.backend, [...(byBackend.get(p.pool.backend) ?? []), p]);
  const stops = await Promise.all([...byBackend].map(async ([name, pools]) => ({ pools, stop: await backendOf(name).start(pools, o.start) })));
  try {
    await o.runSuites(group.filter((p) => !p.planned.error));
  } finally {
    await Promise.all(
      stops.map(async ({ pools, stop }) => {
        const t0 = performance.now();
        await stop();
        for (const p of pools) p.phases.teardownMs = performance.now() - t0;
      }),
    );
  }
}

/**
 * Groups pools into waves: at most `jobs` at once, and no more guest
 * memory than the budget (a VM bigger than the budget runs alone).
 */
export function packWaves<T extends { pool: { vm: { memoryMiB: number } } }>(pools: readonly T[], jobs: number, budgetMiB: number): T[][] {
  const waves: T[][] = [];
  let cur: T[] = [];
  let mem = 0;
  for (const p of pools) {
    const m = p.pool.vm.memoryMiB;
    if (cur.length && (cur.length >= jobs || mem + m > budgetMiB)) {
      waves.push(cur);
      cur = [];
      mem = 0;
    }
    cur.push(p);
    mem += m;
  }
  if (cur.length) waves.push(cur);
  return waves;
}
