import { describe, expect, test } from 'vitest';
import { CATALOGUE } from '../config/catalogue/index.ts';
import { parseConfig } from '../config/load.ts';
import { containerCases } from './container-cases.ts';
import { planCases } from './round-trip.ts';

const settings = (workloads: string) => parseConfig(`pools: [{name: a, kernel: host, image: debian-trixie}]\nsettings: {workloads: [${workloads}], bigMemMiB: [64, 512]}\n`, 'f').config.settings;

describe('round-trip planning', () => {
  test('cases from settings: big-mem per size, counter variants last', () => {
    expect(planCases(settings('counter, big-mem')).map((c) => `${c.check}:${c.mode}:${c.args.join(',')}`)).toEqual([
      'counter:dump:',
      'big-mem/64MiB:dump:64',
      'big-mem/512MiB:dump:512',
      'counter/pre-dump:pre-dump:',
      'counter/leave-running:leave-running:',
    ]);
  });

  test("a class's CRIU options, capabilities, arguments and peer come from its catalogue row", () => {
    const [lock] = planCases(settings('file-lock'));
    expect(lock).toMatchObject({ check: 'file-lock', criu: ['fileLocks'], args: ['{dir}'], mode: 'dump' });
    const [tcp] = planCases(settings('tcp-established'));
    expect(tcp!.criu).toEqual(['tcpEstablished']);
    for (const k of CATALOGUE) {
      const c = planCases({ workloads: [k.name], bigMemMiB: [64] })[0]!;
      expect({ criu: c.criu, needs: c.needs, peer: c.peer }, k.name).toEqual({ criu: k.criu, needs: k.needs, peer: k.peer });
    }
  });

  test('every class of the catalogue can be planned; an unknown name is refused by the config', () => {
    const all = planCases({ workloads: CATALOGUE.map((c) => c.name), bigMemMiB: [64] });
    expect(new Set(all.map((c) => c.workload))).toEqual(new Set(CATALOGUE.map((c) => c.name)));
    expect(() => settings('counter, no-such-class')).toThrow(/no-such-class/);
  });
});

describe('runtime planning', () => {
  test("the runtime suite's cells are the catalogue's container classes with their options", () => {
    const cells = containerCases('runc');
    expect(cells.map((c) => c.check)).toEqual(['runc/run', ...CATALOGUE.filter((c) => c.container).map((c) => `runc/${c.name}`), 'runc/counter/leave-running', 'runc/counter/pre-dump']);
    expect(cells.find((c) => c.workload === 'tcp-established')).toMatchObject({ tcpEstablished: true });
    expect(cells.find((c) => c.workload === 'file-lock')).toMatchObject({ fileLocks: true, args: ['/tmp'] });
    expect(containerCases('podman').at(-1)!.check).toBe('podman/counter/export-import');
  });
});
