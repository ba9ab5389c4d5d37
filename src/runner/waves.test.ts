import { describe, expect, test } from 'vitest';
import { coResidentGroups } from '../plan/migration-pairs.ts';
import { packWaves } from './pool-groups.ts';

const pool = (name: string, memoryMiB: number) => ({ name, pool: { vm: { memoryMiB } } });
const one = <T>(xs: T[]) => xs.map((x) => [x]);

describe('VM waves', () => {
  test('at most jobs VMs at once', () => {
    const waves = packWaves(one([pool('a', 1024), pool('b', 1024), pool('c', 1024)]), 2, 100_000);
    expect(waves.map((w) => w.map((p) => p.name))).toEqual([['a', 'b'], ['c']]);
  });

  test('never more guest memory than the budget; a VM bigger than the budget runs alone', () => {
    const waves = packWaves(one([pool('a', 3072), pool('b', 3072), pool('c', 8192), pool('d', 1024)]), 8, 6144);
    expect(waves.map((w) => w.map((p) => p.name))).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  test('pools a migration links are up together, even beyond jobs; the others fill the waves around them', () => {
    const pools = ['a', 'b', 'c', 'd', 'e'].map((n) => pool(n, 1024));
    const units = coResidentGroups(
      pools.map((p) => p.name),
      [
        { source: 'b', destination: 'd' },
        { source: 'd', destination: 'e' },
        { source: 'x', destination: 'a' }, // a pool outside the waves (a host pool) links nothing
      ],
    ).map((names) => names.map((n) => pools.find((p) => p.name === n)!));
    const waves = packWaves(units, 2, 100_000);
    expect(waves.map((w) => w.map((p) => p.name))).toEqual([['a'], ['b', 'd', 'e'], ['c']]);
  });
});
