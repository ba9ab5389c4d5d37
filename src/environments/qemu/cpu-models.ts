import { EnvironmentError } from '../../errors.ts';
import { run } from '../../util/process.ts';
import { QEMU, type Accel } from './qemu-machine.ts';

/** What `qemu-system-x86_64 -cpu help` lists: CPU model names (aliases included) and the CPUID flag names a model can switch. */
export interface QemuCpuModels {
  models: Set<string>;
  flags: Set<string>;
}

/** Parses `-cpu help`: "x86 NAME  description" lines, then "Recognized CPUID flags:" and indented flag names. */
export function parseCpuHelp(text: string): QemuCpuModels {
  const models = new Set<string>();
  const flags = new Set<string>();
  let inFlags = false;
  for (const line of text.split('\n')) {
    if (/^Recognized CPUID flags:/.test(line)) inFlags = true;
    else if (inFlags && /^\s+\S/.test(line)) for (const f of line.trim().split(/\s+/)) flags.add(f);
    else if (!inFlags) {
      const m = /^x86\s+(\S+)/.exec(line);
      if (m) models.add(m[1]!);
    }
  }
  return { models, flags };
}

/**
 * Why POOL's vm.cpu cannot boot with this QEMU and accelerator, or undefined
 * when it can. Feature switches (",+avx2", ",-avx2", ",avx2=off") must name
 * flags QEMU knows; "host" passes the host's CPU through and needs KVM.
 */
export function cpuModelProblem(pool: string, cpu: string, known: QemuCpuModels, accel: Accel): string | undefined {
  const [model, ...switches] = cpu.split(',');
  const field = `pool ${pool}: vm.cpu "${cpu}"`;
  if (!known.models.has(model!)) {
    const near = [...known.models].filter((m) => m.toLowerCase().startsWith(model!.toLowerCase().slice(0, 3))).slice(0, 6);
    return `${field}: ${QEMU} knows no CPU model "${model}"${near.length ? ` (similar: ${near.join(', ')})` : ''}; \`${QEMU} -cpu help\` lists them (e.g. max, qemu64, Nehalem, Haswell-v4)`;
  }
  if ((model === 'host' || model === 'passthrough') && accel !== 'kvm') return `${field}: "host" passes the host CPU through and needs KVM, but this run uses ${accel}; name a model (e.g. max or Haswell-v4)`;
  const unknown = switches.map((s) => s.replace(/^[+-]/, '').replace(/=.*$/, '')).filter((f) => !known.flags.has(f));
  if (unknown.length) return `${field}: ${QEMU} knows no CPUID flag ${unknown.map((f) => `"${f}"`).join(', ')} (see "Recognized CPUID flags" in \`${QEMU} -cpu help\`)`;
  return undefined;
}

let memo: Promise<QemuCpuModels> | undefined;
/** This machine's QEMU's CPU models, read once. */
export function qemuCpuModels(): Promise<QemuCpuModels> {
  memo ??= run([QEMU, '-cpu', 'help'], { timeoutMs: 10_000 }).then((r) => {
    const known = parseCpuHelp(r.stdout);
    if (r.exitCode !== 0 || !known.models.size)
      throw new EnvironmentError(`cannot list QEMU's CPU models: \`${QEMU} -cpu help\` ${r.timedOut ? 'timed out' : `exited ${r.exitCode}`}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`);
    return known;
  });
  return memo;
}
