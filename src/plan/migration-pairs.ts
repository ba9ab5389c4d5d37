import { migrationNeedsNetwork, type Config } from '../config/schema.ts';
import { pilotMovesAddress, type Pilot } from '../config/pilot-schema.ts';
import type { MigrationPair } from './plan.ts';

/** The suite that runs migration pairs (part of the host/worker contract: the host schedules pairs, that suite runs them). */
export const PAIR_SUITE = 'migration';

/**
 * Every ordered pair the config's migration groups name among the selected
 * pools (a group's "pools" gives each ordered pair, the diagonal included;
 * "from" × "to" gives those). Pairs with a pool outside the selection are left
 * out: --pool chose not to run them (shards keep groups together, see
 * select.ts). A pair two groups name runs each workload/mode once: the later
 * group adds what the earlier did not (with its own settings).
 */
export function migrationPairs(config: Pick<Config, 'migrations'>, selected: ReadonlySet<string>): MigrationPair[] {
  const out: MigrationPair[] = [];
  // What each ordered pair already runs (workload/mode): a later group adds only what is new for it.
  const covered = new Map<string, Set<string>>();
  for (const g of config.migrations) {
    const from = g.pools ?? g.from ?? [];
    const to = g.pools ?? g.to ?? [];
    for (const source of from)
      for (const destination of to) {
        if (!selected.has(source) || !selected.has(destination)) continue;
        const key = `${source}\0${destination}`;
        const have = covered.get(key) ?? new Set<string>();
        covered.set(key, have);
        const modes = g.modes.filter((m) => g.workloads.some((w) => !have.has(`${w}/${m}`)));
        if (!modes.length) continue;
        const workloads = g.workloads.filter((w) => modes.some((m) => !have.has(`${w}/${m}`)));
        for (const w of workloads) for (const m of modes) have.add(`${w}/${m}`);
        out.push({ group: g.name, source, destination, workloads: [...workloads], modes: [...modes], preDumps: g.preDumps, dirtyPercent: g.dirtyPercent, serviceAddress: g.serviceAddress });
      }
  }
  return out;
}

/** Modes whose pages travel over the network between the two nodes (the run then makes its node network). */
export function pairNeedsNetwork(p: Pick<MigrationPair, 'modes' | 'source' | 'destination'> & { workloads?: readonly string[] }): boolean {
  return migrationNeedsNetwork({ modes: p.modes, workloads: p.workloads ?? [] });
}

/** Pools linked by pairs, as groups that must be up at the same time (each pool in one group). */
export function coResidentGroups(pools: readonly string[], pairs: readonly Pick<MigrationPair, 'source' | 'destination'>[]): string[][] {
  const parent = new Map(pools.map((p) => [p, p]));
  const find = (p: string): string => {
    let r = p;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(p, r);
    return r;
  };
  for (const { source, destination } of pairs) if (parent.has(source) && parent.has(destination)) parent.set(find(source), find(destination));
  const groups = new Map<string, string[]>();
  for (const p of pools) groups.set(find(p), [...(groups.get(find(p)) ?? []), p]);
  return [...groups.values()];
}

/**
 * The pilots' migrations among the selected pools: each of a pilot's pools
 * (with the stage "migration") to each of its migrateTo. They join the
 * pairs the run keeps up together; the pilot suite runs them. network: a
 * pilot of the pair moves its service address (the run makes its node network).
 */
export function pilotPairs(pilots: readonly Pick<Pilot, 'pools' | 'migrateTo' | 'stages' | 'serviceAddress'>[], selected: ReadonlySet<string>): { source: string; destination: string; network: boolean }[] {
  const out = new Map<string, { source: string; destination: string; network: boolean }>();
  for (const p of pilots.filter((x) => x.stages.includes('migration')))
    for (const source of p.pools)
      for (const destination of p.migrateTo)
        if (source !== destination && selected.has(source) && selected.has(destination)) {
          const key = `${source}\0${destination}`;
          out.set(key, { source, destination, network: (out.get(key)?.network ?? false) || pilotMovesAddress(p) });
        }
  return [...out.values()];
}
