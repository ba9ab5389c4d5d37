import { describe, expect, test } from 'vitest';
import { coResidentGroups, pilotPairs } from './migration-pairs.ts';

const p = (pools: string[], migrateTo: string[], stages: ('leave-running' | 'checkpoint-restore' | 'migration')[] = ['migration'], serviceAddress: 'move' | 'stay' = 'stay') => ({ pools, migrateTo, stages, serviceAddress });

describe("pilots' migration pairs", () => {
  test('each pool of a pilot with the migration stage to each of its migrateTo, once, itself left out', () => {
    expect(pilotPairs([p(['a', 'b'], ['b', 'c']), p(['a'], ['c'])], new Set(['a', 'b', 'c']))).toEqual([
      { source: 'a', destination: 'b', network: false },
      { source: 'a', destination: 'c', network: false },
      { source: 'b', destination: 'c', network: false },
    ]);
  });

  test('a pair needs the node network when a pilot of it moves its service address (another pilot on the same pair that does not, does not undo it)', () => {
    expect(pilotPairs([p(['a'], ['b'], ['migration'], 'move'), p(['a'], ['b', 'c'])], new Set(['a', 'b', 'c']))).toEqual([
      { source: 'a', destination: 'b', network: true },
      { source: 'a', destination: 'c', network: false },
    ]);
    expect(pilotPairs([p(['a'], ['b', 'c']), p(['a'], ['b'], ['migration'], 'move')], new Set(['a', 'b', 'c']))[0]).toEqual({ source: 'a', destination: 'b', network: true });
  });

  test('no stage "migration", no pair; a pool outside the selection, no pair', () => {
    expect(pilotPairs([p(['a'], ['b'], ['checkpoint-restore'])], new Set(['a', 'b']))).toEqual([]);
    expect(pilotPairs([p(['a'], ['b', 'c'])], new Set(['a', 'c']))).toEqual([{ source: 'a', destination: 'c', network: false }]);
  });

  test('they link their pools into one group that is up at the same time', () => {
    expect(coResidentGroups(['a', 'b', 'c', 'd'], pilotPairs([p(['a'], ['c'])], new Set(['a', 'b', 'c', 'd'])))).toEqual([['a', 'c'], ['b'], ['d']]);
  });
});
