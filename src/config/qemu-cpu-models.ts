import { ConfigError, EnvironmentError } from '../errors.ts';
import { run } from '../util/process.ts';
import type { Config } from './schema.ts';

const QEMU = 'qemu-system-x86_64';

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
 * Why vm.cpu CPU cannot boot with this QEMU and accelerator, or undefined
 * when it can. Feature switches (",+avx2", ",-avx2", ",avx2=off") must name
 * flags QEMU knows; "host" passes the host's CPU through and needs KVM.
 */
export function cpuModelProblem(cpu: string, known: QemuCpuModels, accel: 'kvm' | 'tcg' | 'auto'): string | undefined {
  const [model, ...switches] = cpu.split(',');
  if (!known.models.has(model!)) {
    const near = [...known.models].filter((m) => m.toLowerCase().startsWith(model!.toLowerCase().slice(0, 3))).slice(0, 6);
    return `${QEMU} knows no CPU model "${model}"${near.length ? ` (similar: ${near.join(', ')})` : ''}; \`${QEMU} -cpu help\` lists them (e.g. max, qemu64, Nehalem, Haswell-v4)`;
  }
  if ((model === 'host' || model === 'passthrough') && accel === 'tcg') return `"host" passes the host CPU through and needs KVM, but this run uses tcg; name a model (e.g. max or Haswell-v4)`;
  const unknown = switches.map((s) => s.replace(/^[+-]/, '').replace(/=.*$/, '')).filter((f) => !known.flags.has(f));
  if (unknown.length) return `${QEMU} knows no CPUID flag ${unknown.map((f) => `"${f}"`).join(', ')} (see "Recognized CPUID flags" in \`${QEMU} -cpu help\`)`;
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

/**
 * Load-time check of every pool's vm.cpu against this machine's QEMU, so a
 * misspelt model stops the run before anything is built (exit 2). Without
 * a QEMU here the check waits for the pool's start (the prerequisites
 * name the missing QEMU); "host" without KVM is decided there too, once
 * the accelerator is known (unless settings.accel says tcg).
 */
export async function checkCpuModels(config: Config, file: string, lineOf?: (path: readonly PropertyKey[]) => number | undefined): Promise<void> {
  const pools = config.pools.map((p, i) => ({ p, i })).filter(({ p }) => p.backend === 'qemu' && p.vm.cpu);
  if (!pools.length) return;
  const known = await qemuCpuModels().catch(() => undefined);
  if (!known) return;
  for (const { p, i } of pools) {
    const problem = cpuModelProblem(p.vm.cpu!, known, config.settings.accel);
    if (problem) throw new ConfigError(file, `pools[${i}].vm.cpu`, `a CPU model this QEMU runs (got "${p.vm.cpu}"): ${problem}`, lineOf?.(['pools', i, 'vm', 'cpu']));
  }
}
