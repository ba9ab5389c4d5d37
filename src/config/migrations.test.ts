import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { migrationPairs, pairNeedsNetwork } from '../plan/migration-pairs.ts';

const POOLS = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: b, kernel: host, image: debian-sid}\n  - {name: c, kernel: debian/trixie, image: debian-trixie}\n';

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, 'pools.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('migrations: in the config', () => {
  test('a group of pools gives every ordered pair, the diagonal included; from × to gives those; a pair named twice runs each workload and mode once', () => {
    const { config } = parseConfig(`${POOLS}migrations:\n  - {name: g, pools: [a, c]}\n  - {name: h, from: [b], to: [a, c]}\n  - {name: more, from: [a], to: [c], modes: [cold, pre-copy]}\n  - {name: same, from: [a], to: [c]}\n`, 'f.yaml');
    const pairs = migrationPairs(config, new Set(['a', 'b', 'c']));
    expect(pairs.map((p) => `${p.source}>${p.destination}`)).toEqual(['a>a', 'a>c', 'c>a', 'c>c', 'b>a', 'b>c', 'a>c']);
    // The later group adds only pre-copy to a>c (cold ran already); the last adds nothing.
    expect(pairs.at(-1)).toMatchObject({ group: 'more', modes: ['pre-copy'] });
    expect(pairs[0]).toMatchObject({ group: 'g', workloads: ['counter'], modes: ['cold'], preDumps: 2 });
    // --pool b,c: only pairs whose two pools run.
    expect(migrationPairs(config, new Set(['b', 'c'])).map((p) => `${p.source}>${p.destination}`)).toEqual(['c>c', 'b>c']);
  });

  test('bad groups are refused before any work, naming the file, the path and what was expected', () => {
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a, x]}\n`)).toMatchObject({ path: 'migrations[0].pools[1]', expected: expect.stringMatching(/a pool defined under pools:.*\(got "x"\)/) });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, from: [a]}\n`)).toMatchObject({ path: 'migrations[0].to' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], from: [a], to: [b]}\n`)).toMatchObject({ path: 'migrations[0].pools' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], modes: [warp]}\n`)).toMatchObject({ path: 'migrations[0].modes[0]' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a]}\n  - {name: g, pools: [b]}\n`)).toMatchObject({ path: 'migrations[1].name' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a]}\nsettings: {suites: [round-trip]}\n`)).toMatchObject({ path: 'settings.suites', expected: expect.stringMatching(/"migration"/) });
  });

  test('tcp-external: serviceAddress move (default) or stay reaches the pairs; the pair asks for the node network (its peer is a third node)', () => {
    const { config } = parseConfig(`${POOLS}migrations:\n  - {name: g, pools: [a, c], workloads: [tcp-external]}\n  - {name: h, from: [b], to: [c], workloads: [tcp-external], serviceAddress: stay}\n  - {name: k, from: [b], to: [a]}\n`, 'f.yaml');
    const pairs = migrationPairs(config, new Set(['a', 'b', 'c']));
    expect(pairs.map((p) => `${p.source}>${p.destination} ${p.serviceAddress} ${pairNeedsNetwork(p)}`)).toEqual(['a>a move true', 'a>c move true', 'c>a move true', 'c>c move true', 'b>c stay true', 'b>a move false']);
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], workloads: [tcp-external], serviceAddress: elsewhere}\n`)).toMatchObject({ path: 'migrations[0].serviceAddress', expected: expect.stringMatching(/"move".*"stay"/) });
  });
});
