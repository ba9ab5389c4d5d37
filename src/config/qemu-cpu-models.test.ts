import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cpuModelProblem, parseCpuHelp } from './qemu-cpu-models.ts';

// `qemu-system-x86_64 -cpu help` of Debian bookworm's QEMU 7.2.22, recorded on this machine.
const help = parseCpuHelp(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/qemu/cpu-help-7.2.22.txt'), 'utf8'));

describe('QEMU CPU models', () => {
  test('-cpu help gives models (aliases included) and CPUID flags', () => {
    for (const m of ['max', 'host', 'qemu64', 'Nehalem', 'Nehalem-v2', 'Haswell-noTSX', 'EPYC-Rome', 'base']) expect(help.models.has(m), m).toBe(true);
    expect(help.models.has('Recognized')).toBe(false);
    for (const f of ['avx2', 'xsave', 'sse4.2', 'avx512f']) expect(help.flags.has(f), f).toBe(true);
    expect(help.models.size).toBeGreaterThan(100);
  });

  test('known models and switches pass; an unknown model, an unknown flag, or host without KVM are refused, saying why', () => {
    for (const cpu of ['max', 'qemu64', 'Nehalem', 'Haswell-v4,-avx2,+pcid', 'Skylake-Client,avx2=off']) expect(cpuModelProblem(cpu, help, 'tcg')).toBeUndefined();
    expect(cpuModelProblem('host', help, 'kvm')).toBeUndefined();
    expect(cpuModelProblem('host', help, 'auto')).toBeUndefined(); // decided at start, once the accelerator is known
    expect(cpuModelProblem('Nehalam', help, 'tcg')).toMatch(/^qemu-system-x86_64 knows no CPU model "Nehalam" \(similar: Nehalem.*\); `qemu-system-x86_64 -cpu help` lists them/);
    expect(cpuModelProblem('host', help, 'tcg')).toMatch(/^"host" .*needs KVM, but this run uses tcg/);
    expect(cpuModelProblem('max,-avx9', help, 'tcg')).toMatch(/knows no CPUID flag "avx9"/);
  });
});
