/**
 * CPU features between the node a checkpoint was taken on and the node it
 * is restored on. A process keeps using what its CPU offered when it
 * started (glibc picks AVX2 string functions once, the kernel sized its FPU
 * state for XSAVE): a destination without those features cannot run it.
 */

/** A CPU as a node's /proc/cpuinfo describes it (see the inventory's `cpu`). */
export interface CpuInfo {
  model: string;
  flags: readonly string[];
}

/**
 * The features whose absence decides a restore, most decisive first: the
 * FPU state CRIU must load (x87, FXSR, the XSAVE family), then the
 * instruction sets programs select at start-up.
 */
const DECISIVE = [
  'fpu', 'fxsr', 'xsave', 'osxsave', 'xsaveopt', 'xsavec', 'xsaves', 'xgetbv1',
  'avx', 'avx2', 'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl', 'avx512_vnni', 'amx_tile',
  'fma', 'f16c', 'bmi1', 'bmi2', 'adx', 'movbe', 'popcnt', 'sse4_2', 'sse4_1', 'ssse3', 'pni', 'sse3',
  'aes', 'pclmulqdq', 'vaes', 'vpclmulqdq', 'sha_ni', 'rdrand', 'rdseed', 'erms', 'fsrm', 'lzcnt', 'abm', 'pku', 'ospke', 'la57',
];

/**
 * Flags that describe the machine, not what a process can execute: their
 * absence on the destination breaks nothing a checkpoint carries.
 */
const NOT_FEATURES = new Set(['hypervisor', 'constant_tsc', 'nonstop_tsc', 'tsc_known_freq', 'rep_good', 'nopl', 'xtopology', 'cpuid', 'extd_apicid', 'tsc_reliable', 'arat', 'vmmcall', 'svm', 'vmx', 'npt', 'vgif', 'ept', 'vpid', 'flexpriority', 'tpr_shadow', 'vnmi', 'cmp_legacy', 'cr8_legacy', 'ht', 'ss', 'acpi', 'monitor', 'apic', 'x2apic', 'tsc_deadline_timer', 'tsc_adjust', 'umip', 'smep', 'smap', 'mca', 'mce', 'mtrr', 'pge', 'pat', 'pse', 'pse36', 'pae', 'de', 'msr', 'tsc', 'vme', 'pdpe1gb', 'lahf_lm', 'nx', 'syscall', 'lm', 'sep', 'cx8', 'clflush', 'md_clear', 'flush_l1d', 'arch_capabilities', 'ibrs', 'ibpb', 'stibp', 'ssbd', 'spec_ctrl', 'intel_stibp', 'virt_ssbd', 'amd_ssbd', 'amd_stibp']);

/**
 * What the destination lacks that the source offered: executable features
 * only, decisive ones first, the rest alphabetically. Undefined when either
 * side is unknown (a pool that could not read /proc/cpuinfo, or a results
 * file written before pools recorded it).
 */
export function missingCpuFeatures(source: CpuInfo | null | undefined, destination: CpuInfo | null | undefined): string[] | undefined {
  if (!source || !destination) return undefined;
  const there = new Set(destination.flags);
  const lacking = [...new Set(source.flags)].filter((f) => !there.has(f) && !NOT_FEATURES.has(f));
  const rank = (f: string) => {
    const i = DECISIVE.indexOf(f);
    return i < 0 ? DECISIVE.length : i;
  };
  return lacking.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * The features CRIU's own log names as missing: its FPU check prints each
 * feature as 1 (needed by the image, absent here) or 0, e.g. "(fpu:0 fxsr:0
 * osxsave:1 xsaves:0)"; the restorer's check means XSAVE.
 */
export function cpuFeaturesNamedInLog(line: string): string[] {
  const list = /not supported on host \(([^)]*)\)/.exec(line)?.[1];
  if (list) return [...list.matchAll(/(\w+):1\b/g)].map((m) => m[1]!);
  if (/FPU xsave area present, but host cpu doesn't support it/.test(line)) return ['xsave'];
  return [];
}

/** "xsave, avx, avx2 … (31 in all)": a list a reader can take in. */
export function featureList(features: readonly string[], max = 12): string {
  if (features.length <= max) return features.join(', ');
  return `${features.slice(0, max).join(', ')} … (${features.length} in all)`;
}
