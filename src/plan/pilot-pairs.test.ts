import { describe, expect, test } from 'vitest';
import { coResidentGroups, pilotPairs } from './migration-pairs.ts';

const p = (pools: string[], migrateTo: string[], stages: ('leave-running' | 'checkpoint-restore' | 'migration')[] = ['migration']) => ({ pools, migrateTo, stages });

describe("pilots' migration pairs", () => {
  test('each pool of a pilot with the migration stage to each of its migrateTo, once, itself left out', () => {
    expect(pilotPairs([p(['a', 'b'], ['b', 'c']), p(['a'], ['c'])], new Set(['a', 'b', 'c']))).toEqual([
      { source: 'a', destination: 'b' },
      { source: 'a', destination: 'c' },
      { source: 'b', destination: 'c' },
    ]);
  });

  test('no stage "migration", no pair; a pool outside the selection, no pair', () => {
    expect(pilotPairs([p(['a'], ['b'], ['checkpoint-restore'])], new Set(['a', 'b']))).toEqual([]);
    expect(pilotPairs([p(['a'], ['b', 'c'])], new Set(['a', 'c']))).toEqual([{ source: 'a', destination: 'c' }]);
  });

  test('they link their pools into one group that is up at the same time', () => {
    expect(coResidentGroups(['a', 'b', 'c', 'd'], pilotPairs([p(['a'], ['c'])], new Set(['a', 'b', 'c', 'd'])))).toEqual([['a', 'c'], ['b'], ['d']]);
  });
});
