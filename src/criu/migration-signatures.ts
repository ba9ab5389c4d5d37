import { cpuFeaturesNamedInLog, featureList, missingCpuFeatures } from './cpu-features.ts';
import type { DiagnoseInput, Signature } from './diagnose.ts';

/**
 * Why a restore fails on a node other than the one that dumped: the
 * destination differs in what the checkpoint depends on (its CPU, its
 * files, its addresses). Every text here was seen in a recorded CRIU log
 * (fixtures/recorded/criu-logs/*-restore-*.excerpt.log); the detail names
 * what differs in this occurrence.
 */

const find = (re: RegExp) => (i: DiagnoseInput) => i.text.split('\n').find((l) => re.test(l));

/** CRIU names files relative to the root of the mount namespace ("tmp/x"): show them as absolute paths. */
const abs = (p: string) => (p.startsWith('/') ? p : `/${p}`);

function cpuDetail(i: DiagnoseInput, evidence: string): string | undefined {
  const named = cpuFeaturesNamedInLog(evidence);
  const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
  const parts: string[] = [];
  if (missing?.length)
    parts.push(`The destination's CPU (${i.cpu!.destination!.model}) lacks ${missing.length} feature${missing.length === 1 ? '' : 's'} the source's (${i.cpu!.source!.model}) offered: ${featureList(missing)}.`);
  else if (missing) parts.push(`The two inventories show no feature the destination lacks (${i.cpu!.source!.model} → ${i.cpu!.destination!.model}); the difference is in what the CPUs expose to CRIU's check.`);
  if (named.length) parts.push(`CRIU names: ${named.join(', ')}.`);
  return parts.length ? parts.join(' ') : undefined;
}

/** The socket CRIU was restoring when bind failed: the last "inet: Restore: … port P … src_addr A" line before the error. */
function tcpDetail(i: DiagnoseInput, evidence: string): string | undefined {
  const lines = i.text.split('\n');
  const at = lines.indexOf(evidence);
  const before = at < 0 ? lines : lines.slice(0, at);
  const sock = before.reverse().find((l) => /inet: \s*Restore: .*src_addr/.test(l));
  const addr = sock && /src_addr (\S+)/.exec(sock)?.[1];
  if (!addr) return undefined;
  const port = /\bport (\d+)/.exec(sock)?.[1];
  const state = /\bstate (\S+)/.exec(sock)?.[1];
  return `The checkpointed socket's local address ${addr}${port ? ` (port ${port}${state ? `, ${state}` : ''})` : ''} is not configured on the destination.`;
}

/** The ids a migration cell may see, for code that reacts to one of them. */
export type MigrationSignatureId =
  | 'cpu-features-missing'
  | 'cpu-strict-check-refused'
  | 'cpu-invalid-opcode'
  | 'file-missing'
  | 'file-size-differs'
  | 'file-mode-differs'
  | 'tcp-address-missing'
  | 'tcp-netlock-not-on-destination'
  | 'capabilities-not-restorable';

export const MIGRATION_SIGNATURES: readonly (Signature & { id: MigrationSignatureId })[] = [
  {
    id: 'cpu-features-missing',
    title: "The destination's CPU lacks features the checkpoint needs",
    blame: 'tuple',
    match: find(/FPU feature required by image is not supported on host|FPU xsave area present, but host cpu doesn't support it|CPU capabilities? .*(do not match|mismatch)/i),
    detail: cpuDetail,
    cause:
      "The process was dumped on a CPU with more features (here the XSAVE FPU state and the instructions behind it) than the CPU restoring it; CRIU cannot load its FPU state there, and the program would execute instructions this CPU does not have (glibc picks its AVX2 functions once, at start-up). Without --cpu-cap CRIU only notices while restoring the task (x86: FPU xsave area present…); with --cpu-cap on dump and restore it refuses at start, naming the features. The opposite direction (poorer CPU dumped, richer restores) passes.",
    remediation:
      "Restore on a node whose CPU offers at least the source's features, or run the whole pool on a common CPU baseline (a QEMU/cloud CPU model such as Nehalem or x86-64-v2 on every node; vm.cpu here). --cpu-cap=none on restore skips CRIU's check and trades safety for portability: the restore then succeeds but the process dies with SIGILL at its first missing instruction (seen here). With --cpu-cap on dump and restore CRIU refuses an incompatible CPU up front, naming the feature, but then refuses every different CPU, richer ones included (see cpu-strict-check-refused); `criu cpuinfo dump` / `criu cpuinfo check` compares two nodes without a workload.",
  },
  {
    id: 'cpu-strict-check-refused',
    title: "CRIU's CPU check (--cpu-cap) refused a CPU that differs from the dumping one",
    blame: 'tuple',
    match: find(/CPU xsave size mismatch|CPU capabilities do not match|cpu: .*capabilit(y|ies) .*mismatch/i),
    detail: (i) => {
      const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
      if (!missing) return undefined;
      return missing.length
        ? `The destination's CPU lacks ${featureList(missing)}.`
        : `The destination's CPU (${i.cpu!.destination!.model}) has every feature of the source's (${i.cpu!.source!.model}); only the check stops it.`;
    },
    cause:
      'The checkpoint was dumped with --cpu-cap (CRIU recorded the CPU in cpuinfo.img) and restored with --cpu-cap: CRIU then wants the same XSAVE layout and refuses any different CPU, a richer one included (recorded: a dump on qemu64 refused on max with "CPU xsave size mismatch (0/2696)" under --cpu-cap=fpu, ins, cpu and all alike; restored without --cpu-cap the same images PASS).',
    remediation:
      'Use --cpu-cap on restore only in pools of identical CPUs. Across CPU models, restore without it where the destination has every feature of the source (the inventories tell: none missing), and never onto a poorer CPU.',
  },
  {
    id: 'cpu-invalid-opcode',
    title: 'A restored process executed an instruction this CPU does not have',
    blame: 'tuple',
    match: find(/traps: \S+\[\d+\] trap invalid opcode/),
    detail: (i) => {
      const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
      return missing?.length ? `The destination's CPU lacks ${featureList(missing)}.` : undefined;
    },
    cause:
      "The kernel killed the process with SIGILL (invalid opcode). It was checkpointed on a CPU with more features and restored here without CRIU's CPU check (--cpu-cap=none, or no --cpu-cap): its code still uses the instructions it chose on the source.",
    remediation:
      "Restore only on nodes with at least the source's CPU features (a common CPU model across the pool; compare the two nodes' CPU flags before migrating): without --cpu-cap CRIU does not compare CPUs, it only fails on a missing XSAVE. Or keep the application off the features some nodes lack from its start: glibc's own choice can be masked (GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD; recorded: counter from this machine's AVX-512 CPU then restores under TCG and PASSes, where its EVEX strchrnul trapped before); code compiled for a newer -march cannot be masked.",
  },
  {
    id: 'file-missing',
    title: 'A file the process had open is missing on the destination',
    blame: 'tuple',
    match: find(/Can't open file \S+ on restore: No such file or directory/),
    detail: (_i, ev) => {
      const f = /Can't open file (\S+) on restore/.exec(ev)?.[1];
      return f ? `${abs(f)} does not exist where the restore runs.` : undefined;
    },
    cause: 'CRIU reopens every regular file a process holds by its path; a file that exists on the source but not on the destination (local disk, a volume not mounted, a path created at run time) makes the restore fail.',
    remediation: 'Make the same file available at the same path on the destination before restoring (shared or replicated storage, the volume mounted, the file shipped with the checkpoint), or keep this workload class on its node.',
  },
  {
    id: 'file-size-differs',
    title: 'A file the process had open has a different size on the destination',
    blame: 'tuple',
    match: find(/File \S+ has bad size \d+ \(expect \d+\)/),
    detail: (_i, ev) => {
      const m = /File (\S+) has bad size (\d+) \(expect (\d+)\)/.exec(ev);
      if (!m) return undefined;
      const [have, want] = [Number(m[2]), Number(m[3])];
      return `${abs(m[1]!)} is ${have} bytes where the restore runs; the checkpoint recorded ${want} (${have < want ? `${want - have} bytes shorter` : `${have - want} bytes longer`}).`;
    },
    cause:
      "CRIU records the size of every regular file a process holds open (not opened for append) and refuses to restore when the file differs: the process's offsets and mappings would point into other data. Either the destination's copy is not the source's (stale, truncated, still being written), or the image set was altered (files.img carries the size).",
    remediation: 'Give the destination the very same file (replicated or shared storage, copied after the source froze), or do not migrate processes holding files that change under them. If the files match, check the image set for corruption (checksums of what was transferred).',
  },
  {
    id: 'file-mode-differs',
    title: 'A file the process had open has a different mode on the destination',
    blame: 'tuple',
    match: find(/File \S+ has bad mode \d+ \(expect \d+\)/),
    detail: (_i, ev) => {
      const m = /File (\S+) has bad mode (\d+) \(expect (\d+)\)/.exec(ev);
      return m ? `${abs(m[1]!)} has mode ${m[2]!.slice(-4)} where the restore runs; the checkpoint recorded ${m[3]!.slice(-4)}.` : undefined;
    },
    cause: "CRIU checks the type and permission bits of every regular file a process holds and refuses to restore when they differ (a different file, or the same file with changed permissions).",
    remediation: 'Keep files the same on every node (ownership and mode included: the same image, volume or provisioning), or restore the mode before migrating.',
  },
  {
    id: 'tcp-address-missing',
    title: "An established TCP connection's local address is missing on the destination",
    blame: 'tuple',
    match: find(/Can't bind inet socket back: Cannot assign requested address/),
    detail: tcpDetail,
    cause:
      'With --tcp-established CRIU restores a connection by binding a new socket to its old local address and port and putting it back into the state it had (TCP repair). The destination has no interface with that address, so the connection cannot exist there.',
    remediation:
      "The playbook's response: give the destination the same address and route before the restore (move the service IP with the workload), or disable established-TCP restore for this workload class (checkpoint and restore with --tcp-close instead of --tcp-established: the connections come back closed) and use clients that reconnect.",
  },
  {
    id: 'tcp-netlock-not-on-destination',
    title: 'A TCP connection was reset while CRIU restored it: its packets were not blocked on the restoring node',
    // Not the pair's fault: the same images restore on both CRIU versions once the lock is carried over (recorded).
    blame: 'environment',
    match: find(/Can't restore .*queue data \(-?\d+\), want .*: Broken pipe/),
    detail: tcpDetail,
    cause:
      "CRIU's dump locks every checkpointed connection in the dumping node's firewall (iptables rules matching the connection that DROP packets without CRIU's mark 0xc114) and its restore expects that lock where it runs. On another node nothing blocks the half-restored socket's packets, the kernel answers them with a reset, and restoring the socket's queues fails with EPIPE. Seen restoring a loopback connection on a second VM with CRIU 3.17.1 and 4.1.1 alike; with the source's rules copied over (iptables-save | iptables-restore) both directions pass.",
    remediation:
      "A migration must carry CRIU's network lock: before restoring, install the dumping node's CRIU rules (or use --network-lock nftables / an action script that locks the same connections) on the destination; CRIU removes them after a successful restore. Harness: the migration transfer step must copy the lock.",
  },
  {
    id: 'capabilities-not-restorable',
    title: "The process's capabilities cannot be given back where it is restored",
    blame: 'tuple',
    match: find(/Unable to restore capabilities/),
    cause:
      "CRIU restores a process's capability sets as they were; the restoring node may grant fewer (a smaller bounding set, CRIU itself running without some capability), so capset fails and the restored task dies in CRIU's restorer. Recorded: a root process from a VM (all capabilities) restored on this machine, whose root lacks CAP_SYS_RESOURCE; the same workload started there without CAP_SYS_RESOURCE (setpriv --bounding-set -sys_resource) restores here and PASSes.",
    remediation:
      'Run workloads with no more capabilities than every node of the pool grants (drop the ones they do not need; containers get the runtime\'s default set), or give the restoring CRIU the same capability set as the source (the same bounding set on every node).',
  },
];
