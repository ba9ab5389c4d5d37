import { capabilityRows } from '../../matrix/model.ts';
import type { PoolResult, RunResults } from '../../results/schema.ts';
import { fmtNumber } from './format.ts';

/** CRIU features per pool: one row per feature, one column per pool. */
export function capabilitiesSection(results: RunResults) {
  return { poolNames: results.pools.map((p) => p.name), capabilities: capabilityRows(results) };
}

function runtimesLines(p: PoolResult): string | string[] {
  if (!p.inventory?.runtimes) return 'not probed';
  return p.inventory.runtimes.map(
    (r) =>
      `${r.name} ${r.version ?? 'not installed'}${r.version ? `: ${r.detail}` : ''}${r.features.length ? ` [${r.features.join(' ')}]` : ''}${r.settings ? `; run with ${Object.entries(r.settings).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}`,
  );
}

function inventoryRows(p: PoolResult): [string, string | string[]][] {
  const inv = p.inventory;
  const bp = inv?.hwBreakpoints;
  return [
    ['kernel', `${inv?.kernelRelease ?? '?'} (${p.kernel})`],
    ['backend', inv?.vm ? `${p.backend}, ${inv.vm.acceleratorReason}, ${inv.vm.memoryMiB} MiB, ${inv.vm.cpus} vCPU${inv.vm.cpuModel ? ` (-cpu ${inv.vm.cpuModel})` : ''}, QEMU ${inv.vm.qemu}` : p.backend],
    ['CPU', inv?.cpu ? `${inv.cpu.model} (${inv.cpu.flags.length} flags: ${inv.cpu.flags.join(' ')})` : inv?.cpu === null ? 'not readable' : 'not recorded'],
    ['node image', p.image ? `${p.image.name}: ${p.image.osRelease} (${p.image.source}, key ${p.image.key})` : '?'],
    ['CRIU', inv?.criuVersion ?? '?'],
    ['container runtimes', runtimesLines(p)],
    ['libc', inv?.libc ?? '?'],
    ['cgroup mode', inv?.cgroupMode ?? '?'],
    ['debug-register breakpoints', bp ? `${bp.works === null ? 'unknown' : bp.works ? 'work' : 'do not work'} (${bp.detail})` : '?'],
    ['kernel config', inv?.kernelConfig ? Object.entries(inv.kernelConfig).map(([k, v]) => `${k.replace(/^CONFIG_/, '')}=${v ?? 'n'}`).join(' ') : 'not readable'],
    ['packages', inv ? Object.entries(inv.packages).map(([k, v]) => `${k} ${v}`).join(', ') : '?'],
    ['CRIU environment', Object.entries(p.criuEnv).map(([k, v]) => `${k}=${v}`).join(' ') || '–'],
    ['phases', p.phases ? `provision ${fmtNumber('Ms', p.phases.provisionMs)}, boot ${fmtNumber('Ms', p.phases.bootMs)}, suites ${fmtNumber('Ms', p.phases.suitesMs)}, teardown ${fmtNumber('Ms', p.phases.teardownMs)}` : '–'],
  ];
}

/** Each pool's inventory: what the node was, as probed. */
export function inventoriesSection(results: RunResults) {
  return results.pools.map((p) => ({ name: p.name, rows: inventoryRows(p).map(([k, v]) => ({ k, lines: typeof v === 'string' ? [v] : v })) }));
}
