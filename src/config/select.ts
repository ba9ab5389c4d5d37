import { UsageError } from '../errors.ts';
import { DEFAULT_CONFIG_NAME } from './default.ts';
import type { LoadedConfig } from './load.ts';
import type { Pool } from './schema.ts';

/** --shard I/N, 1-based. */
export function parseShard(value: string | undefined): { index: number; count: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new UsageError(`--shard takes I/N with 1 <= I <= N, e.g. 2/4 (got "${value}")`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/** The pools a command works on: all of the config's, or those named (each must exist), then one shard of them. */
export function selectPools(loaded: LoadedConfig, names?: readonly string[], shard?: { index: number; count: number }): Pool[] {
  let pools = loaded.config.pools;
  if (names?.length) {
    const unknown = names.filter((n) => !pools.some((p) => p.name === n));
    if (unknown.length) throw new UsageError(`no pool named ${unknown.join(', ')} in ${loaded.file}; pools are: ${pools.map((p) => p.name).join(', ')}`);
    pools = pools.filter((p) => names.includes(p.name));
  }
  if (shard) {
    const { index, count } = shard;
    // A migration group's pools must be up in the same job: shards deal out groups of linked pools, not pools.
    const units = linkedUnits(pools.map((p) => p.name), loaded.config.migrations);
    const chosen = new Set(units.filter((_, i) => i % count === index - 1).flat());
    pools = pools.filter((p) => chosen.has(p.name));
    if (!pools.length) throw new UsageError(`shard ${index}/${count} of ${loaded.file} has no pool (there are fewer pools than shards)`);
  }
  return pools;
}

/** How messages name a selection: "the embedded default (9 pools)", "pools.yaml: host-trixie". */
export function selectionLabel(loaded: LoadedConfig, pools: readonly Pool[]): string {
  const all = pools.length === loaded.config.pools.length;
  const file = loaded.file === DEFAULT_CONFIG_NAME ? 'the embedded default' : loaded.file;
  return all ? `${file} (${pools.length} pool${pools.length === 1 ? '' : 's'})` : `${file}: ${pools.map((p) => p.name).join(', ')}`;
}

/** Pools linked by migration groups (transitively), each unit in the order of its first pool; a pool in no group is a unit of its own. */
export function linkedUnits(names: readonly string[], groups: readonly { pools?: string[] | undefined; from?: string[] | undefined; to?: string[] | undefined }[]): string[][] {
  const unitOf = new Map(names.map((n) => [n, n]));
  const find = (n: string): string => (unitOf.get(n) === n ? n : find(unitOf.get(n)!));
  for (const g of groups) {
    const members = [...(g.pools ?? []), ...(g.from ?? []), ...(g.to ?? [])].filter((n) => unitOf.has(n));
    for (const m of members.slice(1)) unitOf.set(find(m), find(members[0]!));
  }
  const units = new Map<string, string[]>();
  for (const n of names) units.set(find(n), [...(units.get(find(n)) ?? []), n]);
  return [...units.values()].sort((a, b) => names.indexOf(a[0]!) - names.indexOf(b[0]!));
}
