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
    pools = pools.filter((_, i) => i % count === index - 1);
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
