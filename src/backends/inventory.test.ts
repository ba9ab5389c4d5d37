import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupModeOf, parseCpuInfo, parseHwBreakpoints, parseKernelConfig } from './inventory.ts';

describe('inventory parsers', () => {
  test('kernel config: y, m, values and "is not set"', () => {
    const cfg = parseKernelConfig('CONFIG_CHECKPOINT_RESTORE=y\n# CONFIG_MEM_SOFT_DIRTY is not set\nCONFIG_TUN=m\nCONFIG_OTHER=y\n');
    expect(cfg).toEqual({ CONFIG_CHECKPOINT_RESTORE: 'y', CONFIG_MEM_SOFT_DIRTY: null, CONFIG_TUN: 'm' });
  });

  test('cgroup mode from mountinfo', () => {
    const v1 = '67 66 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu';
    const unified = '76 66 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw';
    const v2 = '30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw';
    expect(cgroupModeOf([v1, unified].join('\n'))).toBe('hybrid');
    expect(cgroupModeOf(v2)).toBe('v2');
    expect(cgroupModeOf(v1)).toBe('v1');
    expect(cgroupModeOf('')).toBe('unknown');
  });

  test('hw breakpoint probe output', () => {
    expect(parseHwBreakpoints('hw-breakpoints: yes\n')).toEqual({ works: true, detail: 'yes' });
    expect(parseHwBreakpoints('hw-breakpoints: no (tracee ran past the breakpoint)\n')).toEqual({ works: false, detail: 'tracee ran past the breakpoint' });
    expect(parseHwBreakpoints('')).toEqual({ works: null, detail: 'probe gave no answer' });
  });

  test('cpuinfo: model name and flags of the first processor, as recorded in TCG guests with -cpu max and -cpu qemu64', () => {
    const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/cpuinfo', f), 'utf8');
    const max = parseCpuInfo(rec('tcg-max.txt'))!;
    expect(max.model).toBe('QEMU TCG CPU version 2.5+');
    expect(max.flags).toEqual(expect.arrayContaining(['fpu', 'xsave', 'avx', 'avx2', 'sse4_2']));
    const q64 = parseCpuInfo(rec('tcg-qemu64.txt'))!;
    expect(q64.model).toBe('QEMU Virtual CPU version 2.5+');
    expect(q64.flags).not.toContain('xsave');
    expect(parseCpuInfo('processor\t: 0\nvendor_id\t: x\n')).toBeNull();
  });
});
