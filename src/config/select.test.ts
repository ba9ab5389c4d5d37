import { describe, expect, test } from 'vitest';
import { parseConfig } from './load.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from './default.ts';
import { linkedUnits, selectPools } from './select.ts';

describe('shards', () => {
  test('without migrations every pool is its own unit, dealt out in order', () => {
    expect(linkedUnits(['a', 'b', 'c'], [])).toEqual([['a'], ['b'], ['c']]);
  });

  test('a migration group (and groups sharing a pool) stays in one shard', () => {
    expect(linkedUnits(['a', 'b', 'c', 'd', 'e'], [{ pools: ['b', 'd'] }, { from: ['d'], to: ['e'] }])).toEqual([['a'], ['b', 'd', 'e'], ['c']]);
  });

  test("the embedded default's migration group lands whole in one shard; every pool in exactly one", () => {
    const loaded = parseConfig(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME);
    const group = loaded.config.migrations[0]!.pools!;
    const shards = [1, 2, 3, 4].map((index) => selectPools(loaded, undefined, { index, count: 4 }).map((p) => p.name));
    expect(shards.filter((s) => group.every((g) => s.includes(g)))).toHaveLength(1);
    expect(shards.flat().sort()).toEqual(loaded.config.pools.map((p) => p.name).sort());
  });
});
