import { describe, expect, test } from 'vitest';
import { packWaves } from './pool-groups.ts';

const pool = (name: string, memoryMiB: number) => ({ name, pool: { vm: { memoryMiB } } });

describe('VM waves', () => {
  test('at most jobs VMs at once', () => {
    const waves = packWaves([pool('a', 1024), pool('b', 1024), pool('c', 1024)], 2, 100_000);
    expect(waves.map((w) => w.map((p) => p.name))).toEqual([['a', 'b'], ['c']]);
  });

  test('never more guest memory than the budget; a VM bigger than the budget runs alone', () => {
    const waves = packWaves([pool('a', 3072), pool('b', 3072), pool('c', 8192), pool('d', 1024)], 8, 6144);
    expect(waves.map((w) => w.map((p) => p.name))).toEqual([['a', 'b'], ['c'], ['d']]);
  });
});
