import { describe, expect, test } from 'vitest';
import { parseConfig } from '../config/load.ts';
import { planCases } from './round-trip.ts';

describe('round-trip planning', () => {
  test('cases from settings: big-mem per size, counter variants last', () => {
    const { config } = parseConfig('pools: [{name: a, kernel: host, image: debian-trixie}]\nsettings: {workloads: [counter, big-mem], bigMemMiB: [64, 512]}\n', 'f');
    expect(planCases(config.settings).map((c) => `${c.check}:${c.mode}:${c.args.join(',')}`)).toEqual([
      'counter:dump:',
      'big-mem/64MiB:dump:64',
      'big-mem/512MiB:dump:512',
      'counter/pre-dump:pre-dump:',
      'counter/leave-running:leave-running:',
    ]);
  });
});
