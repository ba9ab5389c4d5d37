import type { Status } from '../results/schema.ts';
import semver from 'semver';
import type { CpuInfo } from './cpu-features.ts';
import { MIGRATION_SIGNATURES } from './migration-signatures.ts';

/**
 * Known failure signatures: text seen in CRIU's log or output → the cause
 * and what to do. Blame decides the verdict: "tuple" failures are FAIL
 * (this kernel/image/runtime combination is broken), "environment" ones are
 * ERROR (the harness or the machine broke, not the tuple), "note" never
 * changes a verdict but is shown beside it.
 */
export type Blame = 'tuple' | 'environment' | 'note';

export interface Diagnosis {
  id: string;
  /** CRIU cannot work at all with this cause: every command fails the same way. */
  fatal: boolean;
  title: string;
  cause: string;
  remediation: string;
  blame: Blame;
  /** The line that matched, for the reader to find it in the log. */
  evidence: string;
}

export interface DiagnoseInput {
  /** CRIU log plus the command's stdout and stderr. */
  text: string;
  timedOut?: boolean;
  /** CRIU was killed by this signal (SIGSEGV…) instead of exiting. */
  signal?: string;
  /** The pool's breakpoint probe: true when debug-register breakpoints reach a ptracer there, null or absent when unknown. */
  hwBreakpoints?: boolean | null;
  /** A migration: the CPUs of the node the checkpoint came from and of the node restoring it (the pools' inventories). */
  cpu?: { source?: CpuInfo | null | undefined; destination?: CpuInfo | null | undefined };
}

/** The last lines of a timed-out CRIU log show it waiting for the task to trap on its breakpoint. */
function restsAtBreakpointWait(i: DiagnoseInput): string | undefined {
  if (!i.timedOut) return undefined;
  const tail = i.text.trimEnd().split('\n').slice(-4);
  return tail.find((l) => /new_sp=0x[0-9a-f]+ ip 0x[0-9a-f]+/.test(l) || /Waiting for \d+ to trap/.test(l));
}

export interface Signature {
  id: string;
  fatal?: boolean;
  title: string;
  blame: Blame;
  match: (input: DiagnoseInput) => string | undefined;
  cause: string;
  /** What this occurrence says beyond the general cause (which file, which address, which CPU features); put before the cause. */
  detail?: (input: DiagnoseInput, evidence: string) => string | undefined;
  remediation: string;
}

/** Matches the first line of CRIU's text that RE finds. */
export const line = (re: RegExp) => (i: DiagnoseInput) => i.text.split('\n').find((l) => re.test(l));

export const SIGNATURES: readonly Signature[] = [
  ...MIGRATION_SIGNATURES,
  {
    id: 'criu-crashed',
    title: 'CRIU crashed',
    blame: 'tuple',
    match: (i) => (i.signal && !i.timedOut ? `criu killed by ${i.signal}` : undefined),
    cause:
      'CRIU did not exit with an error: it died from a signal. SIGSEGV, SIGBUS, SIGILL or SIGABRT mean a bug in this CRIU build on this kernel or node image; SIGKILL that something outside killed it (often the kernel\'s OOM killer).',
    remediation:
      'Read the last lines of the CRIU log above to see where it died; try the newest CRIU release in this node image and report the crash upstream with `criu --version`, `uname -r` and the log. For SIGKILL look for the OOM killer in the kernel log (dmesg) and give the node more memory.',
  },
  {
    id: 'vdso-bounds',
    fatal: true,
    title: 'CRIU does not understand this kernel\'s vDSO layout',
    blame: 'tuple',
    match: line(/Unexpected rt vDSO area bounds/),
    cause:
      'Kernel 6.13 moved the vvar clock pages into their own mapping; CRIU 4.0 and older fail to parse the vDSO on x86_64 kernels >= 6.13 and cannot initialise at all.',
    remediation: 'Ship CRIU >= 4.1 in this node image, or keep this node image on kernels older than 6.13.',
  },
  {
    id: 'rseq-no-get-rseq-conf',
    title: 'The task uses rseq, and this kernel cannot tell CRIU its rseq configuration',
    blame: 'tuple',
    match: line(/has rseq but kernel lacks get_rseq_conf feature/),
    cause:
      'glibc 2.35 and newer register restartable sequences (rseq) in every thread. CRIU can only dump such a task when the kernel offers PTRACE_GET_RSEQ_CONFIGURATION (Linux 5.13+); older kernels (e.g. 5.10) cannot be checkpointed with programs built against a new glibc.',
    remediation:
      'Move the node pool to a kernel >= 5.13, or start the workloads with GLIBC_TUNABLES=glibc.pthread.rseq=0 (no rseq registration), or keep applications on glibc < 2.35.',
  },
  {
    id: 'hw-breakpoints',
    title: 'The task never trapped on CRIU\'s hardware breakpoint',
    blame: 'tuple',
    // Only where the pool's probe did not see breakpoints work: elsewhere the same log tail is a slow host (next signature).
    match: (i) => (i.hwBreakpoints === true ? undefined : restsAtBreakpointWait(i)),
    cause:
      'After removing its parasite CRIU waits for the task to stop on an x86 debug-register breakpoint. This hypervisor does not virtualise debug registers (seen in Firecracker and AMD SEV guests), so the task never stops and CRIU < 4.2 waits forever.',
    remediation:
      'Use CRIU >= 4.2, which probes breakpoints at start and falls back to syscall tracing. Stopgap for older CRIU: run it with CRIU_FAULT=130 (forces the no-breakpoint path). Or move the node pool to a hypervisor that virtualises debug registers.',
  },
  {
    id: 'criu-slow-not-hung',
    title: 'CRIU was still working when its time ran out',
    blame: 'environment',
    match: (i) => (i.hwBreakpoints === true ? restsAtBreakpointWait(i) : undefined),
    cause:
      "CRIU timed out where the known breakpoint hang stops, but this pool's probe saw debug-register breakpoints work, so it is not that hang: the host was too slow for the time limit (seen under TCG emulation on a loaded machine, where the same cell passes when the host is idle). Nothing says the tuple is broken.",
    remediation: 'Rerun with fewer pools in parallel (--jobs) or a larger settings.timeouts.criuMs; if it still times out on an idle host, keep the CRIU log (--keep-artifacts) and report it.',
  },
  {
    id: 'kerndat-init',
    fatal: true,
    title: 'CRIU could not probe the kernel',
    blame: 'tuple',
    match: line(/Could not initialize kernel features detection|kerndat_init failed/),
    cause: 'CRIU fails while detecting kernel features at start-up, so every command (check, dump, restore) fails.',
    remediation: 'Read the first error before this line (often a CRIU release older than the kernel); upgrade CRIU in the node image.',
  },
  {
    id: 'iptables-restore-missing',
    title: 'No iptables-restore for CRIU\'s network lock',
    blame: 'tuple',
    match: line(/iptables-restore.*(No such file|not found)|(No such file|not found).*iptables-restore/),
    cause: 'CRIU locks the network with iptables by default, and the node image has no iptables-restore.',
    remediation: 'Install iptables in the node image, or use CRIU\'s nftables lock (--network-lock nftables, or network-lock nftables in criu.conf).',
  },
  {
    id: 'iptables-lock-failed',
    title: "CRIU's iptables lock of a TCP connection failed",
    blame: 'tuple',
    match: (i) => line(/RULE_INSERT failed|RULE_APPEND failed/)(i) ?? line(/Iptables configuration failed/)(i),
    cause:
      "With --tcp-established CRIU locks each dumped connection by inserting iptables DROP rules (iptables -I INPUT … -m mark ! --mark …); the node image's iptables could not insert them on this kernel (seen: trixie's iptables 1.8.11, nf_tables backend, on Debian's 5.10 kernel: \"RULE_INSERT failed (No such file or directory): rule in chain INPUT\"; loading nft_compat and xt_mark did not help).",
    remediation: "Use CRIU's nftables lock (--network-lock nftables, or network-lock nftables in criu.conf), switch the node image to iptables-legacy, or run this node image on a newer kernel (the same image passes on 6.12).",
  },
  {
    id: 'sockopt-passcred',
    title: 'CRIU cannot read SO_PASSCRED/SO_PASSSEC from TCP/UDP sockets on this kernel',
    blame: 'tuple',
    match: line(/Can't get 1:(16|34) opt: Operation not supported/),
    cause:
      'Since Linux 6.16 the socket options SO_PASSCRED (16) and SO_PASSSEC (34) exist only for unix, netlink and bluetooth sockets; CRIU 4.1.x and older still read them from every socket, so no process holding an inet socket can be dumped.',
    remediation: 'Use a CRIU release that skips these options on inet sockets (fixed upstream after 4.1.1), or keep this node image on kernels older than 6.16.',
  },
  {
    id: 'restore-loopback-down',
    title: 'Loopback is down in the network namespace the restore uses',
    blame: 'tuple',
    match: line(/Can't connect inet socket back: Network is unreachable/),
    cause:
      'CRIU reconnects a restored TCP socket to its old address; there is no route to it because the loopback interface of the network namespace it restores into is down (podman 5 restores a --network none container into a new namespace without bringing lo up; CRIU leaves lo as it finds it in an external namespace).',
    remediation: 'Run the container on a podman network (bridge: netavark brings lo up on restore too), or bring lo up in the namespace before the restore (a runtime hook); runc and crun on the node\'s own network are not affected.',
  },
  {
    id: 'crun-cgroup-hybrid',
    title: 'crun does not run containers on a hybrid cgroup layout',
    blame: 'tuple',
    match: line(/cgroups in hybrid mode not supported/),
    cause: 'The node mounts cgroup v1 controllers and a cgroup2 hierarchy side by side (hybrid mode); crun refuses to manage cgroups there while any controller is enabled in the cgroup2 part.',
    remediation: 'Boot the node with the unified cgroup v2 hierarchy (systemd.unified_cgroup_hierarchy=1), or remove every controller from the cgroup2 mount, or use runc on this node pool.',
  },
  {
    id: 'runtime-no-checkpoint',
    title: 'The container runtime is built without checkpoint/restore',
    blame: 'tuple',
    match: line(/configured runtime does not support checkpoint\/restore|checkpoint(ing)? (is )?not supported|libcriu.*(not|cannot)/i),
    cause: 'podman checkpoints through its OCI runtime; this runtime has no CRIU support (crun built without +CRIU, i.e. without libcriu).',
    remediation: 'Configure podman to use runc (runtime = "runc" in containers.conf, or --runtime runc), or install a crun built with CRIU (crun --version shows +CRIU; Debian trixie\'s does with libcriu2).',
  },
  {
    id: 'container-rlimit',
    title: 'The runtime may not raise the container\'s resource limits',
    blame: 'environment',
    match: line(/error setting rlimit type \d+: operation not permitted|setrlimit `?RLIMIT_[A-Z]+`?: Operation not permitted/i),
    cause: 'The container asks for a higher RLIMIT_NOFILE (type 7) or RLIMIT_NPROC (type 6) than the runtime\'s own, and the runtime lacks CAP_SYS_RESOURCE to raise it (podman raises both by default; this machine withholds CAP_SYS_RESOURCE even from root).',
    remediation: 'Run containers with the node\'s own limits (podman --ulimit host; Docker API: HostConfig.Ulimits no higher than `ulimit -Hn` / `ulimit -Hu`), or grant CAP_SYS_RESOURCE to the runtime.',
  },
  {
    id: 'link-remap-needed',
    title: 'An open file lost its name but is still linked elsewhere: CRIU needs --link-remap',
    blame: 'tuple',
    match: line(/Can't create link remap for .* Use link-remap option/),
    cause:
      'A process holds a file open whose name was removed while another hard link to it remains (e.g. a file renamed or unlinked after a second link was made). CRIU can only dump such a file through a temporary hard link beside it, which it makes only when told to.',
    remediation: 'Dump with --link-remap; where a container runtime has no flag for it, put link-remap in the CRIU configuration file the runtime makes CRIU read (runc: /etc/criu/runc.conf). Or have the service close such files before a checkpoint.',
  },
  {
    id: 'sysv-shm-outside-ipc-ns',
    title: 'The tree maps SysV shared memory of an IPC namespace it does not own',
    blame: 'tuple',
    match: line(/with SysVIPC shmem map @[0-9a-f]+ doesn't live in IPC ns/),
    cause:
      "CRIU saves SysV shared-memory segments only as part of an IPC namespace it dumps with the tree. The dumped process maps a segment (PostgreSQL always creates a small one to guard its data directory, and Debian's configuration puts dynamic shared memory there too: dynamic_shared_memory_type = sysv) of an IPC namespace shared with processes outside the tree.",
    remediation:
      'Start the service in an IPC namespace of its own (e.g. `unshare --ipc -- setpriv … postgres …` as the service command), so CRIU dumps and recreates the namespace with its segments; checkpoint the whole IPC namespace (a container); or restart the service instead of restoring it.',
  },
  {
    id: 'rlimit-other-user',
    title: 'CRIU may not read the resource limits of another user\'s process',
    blame: 'environment',
    match: line(/Can't get rlimit \d+: Operation not permitted/),
    cause:
      "The dumped tree holds a process whose uids or gids differ from CRIU's own. The kernel lets prlimit() read such a process's limits only with CAP_SYS_RESOURCE, and CRIU runs without it here (this machine withholds CAP_SYS_RESOURCE even from root), so it cannot dump any process of another user.",
    remediation:
      'Run CRIU with CAP_SYS_RESOURCE in its effective set (a container runtime or agent granted it, not one that drops it), or keep the checkpointed services running as the same user as CRIU.',
  },
  {
    id: 'pid-collision',
    title: 'A PID needed by the restore is taken',
    blame: 'environment',
    match: line(/Can't fork for \d+: File exists/),
    cause: 'CRIU restores processes with their old PIDs; another process (often an unreaped zombie) holds one of them.',
    remediation: 'Restore in a PID namespace whose init reaps orphans, or make sure the dumped tree is fully gone (and reaped) before restoring.',
  },
  {
    id: 'lazy-source-splice-failed',
    title: "The source's lazy page server could not send the frozen task's pages",
    blame: 'tuple',
    match: line(/page-pipe: splice: -1: Bad file descriptor/),
    cause:
      "In a lazy migration the source's `criu dump --lazy-pages` keeps the tree frozen and serves its memory. Here it failed on its first page request: splicing the task's pages into the transfer failed with EBADF (seen with CRIU 4.1.1 on this 6.18 kernel, from a namespace node and a node container alike; the same CRIU serves lazily from Debian's 6.1 and 6.12 kernels). The destination's restore then lost its page server.",
    remediation:
      'Do not use lazy migration from this pool: migrate cold or with a page server (both PASS from it), or move the source pool to a kernel/CRIU pair where a lazy dump serves its pages. The source tree is unfrozen when the transfer fails: it keeps running where it was.',
  },
  {
    id: 'shadow-stack-lost',
    title: 'The task was dumped with CET shadow-stack state and this CPU has none',
    blame: 'note',
    match: line(/Restoring task with shadow stack on non-CET machine/),
    cause:
      'The source CPU offers x86 CET shadow stacks and CRIU saved that state; the destination\'s CPU model lacks the feature, so CRIU restores the task without it. A task that really used a shadow stack can fail later; one that did not is unaffected.',
    remediation: 'Migrate between CPU models with the same CET features (compare the shstk/ibt flags of both pools\' CPUs; a VM pool can set vm.cpu), or run the workload without shadow stacks.',
  },
  {
    id: 'dirty-tracking-off',
    title: 'No memory dirty tracking',
    blame: 'tuple',
    match: line(/Dirty tracking is OFF|Kernel doesn't support dirty tracking|soft[-_ ]dirty.*not supported/i),
    cause: 'The kernel is built without CONFIG_MEM_SOFT_DIRTY, so pre-dump, --track-mem and iterative migration cannot work.',
    remediation: 'Use a kernel built with CONFIG_MEM_SOFT_DIRTY=y (Debian\'s are), or plain dump without pre-dump.',
  },
  {
    id: 'rlimit-nofile',
    title: 'CRIU cannot raise its file-descriptor limit',
    blame: 'note',
    match: line(/rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted/),
    cause: 'The harness runs without CAP_SYS_RESOURCE, so CRIU keeps the current RLIMIT_NOFILE. Harmless unless the tree holds more descriptors than that limit.',
    remediation: 'Grant CAP_SYS_RESOURCE to the process running CRIU if large trees must be checkpointed; containers need --ulimit host.',
  },
];

/**
 * What a restored workload's FAIL line says when CRIU left out a piece of
 * state it does not checkpoint (in this CRIU release or any): the fixtures
 * of those classes name it in words these match. Diagnosed like a log.
 */
export const VERDICT_SIGNATURES: readonly Signature[] = [
  {
    id: 'timerfd-pending-disarmed',
    title: 'CRIU restored a periodic timerfd disarmed',
    blame: 'tuple',
    match: line(/periodic timerfd stopped: .*disarmed/),
    cause:
      'While an expiration of a periodic timerfd is pending (not yet read), the kernel shows its time left as 0; CRIU (up to 4.2) restores the timer with that 0, and timerfd_settime with a zero value disarms it: the pending ticks come back, then it never fires again (checkpoint-restore/criu issue #3162).',
    remediation: 'No CRIU release fixes it yet: read timerfds promptly in the service (the window is then the wake-up latency), re-arm timers after a restore, or carry a CRIU patch that re-reads a zero it_value (criu pull request #2030).',
  },
  {
    id: 'eventfd-semaphore-lost',
    title: 'CRIU recreated an eventfd without EFD_SEMAPHORE',
    blame: 'tuple',
    match: line(/EFD_SEMAPHORE lost/),
    cause: 'CRIU stores only the count and file flags of an eventfd and recreates it with eventfd(count, 0): a semaphore-mode eventfd comes back in counter mode, and its first read takes the whole count.',
    remediation: 'No CRIU release keeps the flag (up to 4.2): avoid EFD_SEMAPHORE in services that are checkpointed (count units in user space), or recreate such eventfds after a restore.',
  },
  {
    id: 'cpu-affinity-not-restored',
    title: 'CRIU does not checkpoint CPU affinity',
    blame: 'tuple',
    match: line(/is allowed CPUs \{[^}]*\}, it was pinned to/),
    cause: "CRIU saves no CPU affinity: restored threads get the restorer's (every CPU it may use). Patches to save it (criu pull requests #1298, #1969, #2014) were never merged.",
    remediation: 'Have the service (or a post-restore hook: criu --action-script, a runtime hook) re-apply its CPU pinning after a restore; or pin with a cpuset cgroup, which the restore keeps.',
  },
  {
    id: 'no-new-privs-lost',
    title: 'This CRIU does not restore no_new_privs',
    blame: 'tuple',
    match: line(/no_new_privs is off/),
    cause: 'prctl(PR_SET_NO_NEW_PRIVS) is carried by CRIU since 3.19; older releases (Debian 12 has 3.17.1) restore the seccomp filters but leave no_new_privs off, so a restored process may gain privileges through a setuid exec again.',
    remediation: 'Ship CRIU >= 3.19 in this node image.',
  },
  {
    id: 'ambient-caps-lost',
    title: 'This CRIU does not restore ambient capabilities',
    blame: 'tuple',
    match: line(/ambient capabilities 0, expected/),
    cause: 'The ambient capability set is carried by CRIU since 4.1; older releases (Debian 12 has 3.17.1) restore the other sets and drop the ambient one, so programs the restored process starts lose capabilities they were meant to inherit.',
    remediation: 'Ship CRIU >= 4.1 in this node image.',
  },
];

/** Known causes of a restored workload's FAIL line (its own words, see VERDICT_SIGNATURES). */
export function diagnoseVerdict(message: string): Diagnosis[] {
  return matchAll(VERDICT_SIGNATURES, { text: message });
}

/** Every known signature found in the input, in table order (most specific first). */
export function diagnose(input: DiagnoseInput): Diagnosis[] {
  return matchAll(SIGNATURES, input);
}

function matchAll(signatures: readonly Signature[], input: DiagnoseInput): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const s of signatures) {
    const evidence = s.match(input);
    if (evidence === undefined) continue;
    const detail = s.detail?.(input, evidence);
    out.push({ id: s.id, fatal: s.fatal ?? false, title: s.title, cause: detail ? `${detail} ${s.cause}` : s.cause, remediation: s.remediation, blame: s.blame, evidence: evidence.trim().slice(0, 300) });
  }
  return out;
}

/** The lines of a CRIU log worth showing: errors and warnings, then the last lines. Never memory contents. */
export function logExcerpt(text: string, maxErrors = 12, tail = 4): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => /\b(Error|Warn)\b\s*\(|^Error|^Warning|FAIL/.test(l)).slice(-maxErrors);
  const last = lines.slice(-tail).filter((l) => !errors.includes(l));
  return [...errors, ...last].map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
}

/**
 * Status from an operation that failed: FAIL when the tuple is to blame,
 * ERROR when a known signature blames the environment.
 */
export function failureStatus(diagnoses: readonly Diagnosis[]): Status {
  return diagnoses.some((d) => d.blame === 'environment') ? 'ERROR' : 'FAIL';
}

/**
 * A migration whose restore failed where the destination's CRIU is older
 * than the source's: CRIU's images are not promised to be readable by an
 * older CRIU (seen here: 4.2.1's images make 4.1.1 fail on the vDSO's ELF
 * header). Decided from the two pools' CRIU versions, not from a log line.
 */
export function olderCriuOnDestination(source: { pool: string; criuVersion?: string | null | undefined }, destination: { pool: string; criuVersion?: string | null | undefined }): Diagnosis | undefined {
  const [s, d] = [semver.coerce(source.criuVersion ?? ''), semver.coerce(destination.criuVersion ?? '')];
  if (!s || !d || !semver.lt(d, s)) return undefined;
  return {
    id: 'criu-older-on-destination',
    fatal: false,
    title: 'Images written by a newer CRIU, restored by an older one',
    cause: `The images were written by CRIU ${source.criuVersion} on ${source.pool}; ${destination.pool} restores with CRIU ${destination.criuVersion}. CRIU keeps its image format readable forward (an old image by a new CRIU), not backward: a newer CRIU records what an older one does not know or lays it out differently.`,
    remediation: 'Migrate only towards the same or a newer CRIU (upgrade the destination pool first in a rolling upgrade, or roll the source back), and mark new → old incompatible for this class. Fall back to a cold start on the destination.',
    blame: 'tuple',
    evidence: `criu ${source.criuVersion} (${source.pool}) → criu ${destination.criuVersion} (${destination.pool})`,
  };
}

/**
 * page-server and lazy migrations between two CRIU versions: the page
 * transfer protocol is CRIU's own and not promised across versions (seen
 * here: 4.1.1's dump stalls against 4.2.1's page server, and 4.2.1's dump is
 * reset by 4.1.1's). Decided from the two versions when such a migration failed.
 */
export function criuVersionsOnTheWire(source: { pool: string; criuVersion?: string | null | undefined }, destination: { pool: string; criuVersion?: string | null | undefined }): Diagnosis | undefined {
  const [s, d] = [semver.coerce(source.criuVersion ?? ''), semver.coerce(destination.criuVersion ?? '')];
  if (!s || !d || semver.eq(s, d)) return undefined;
  return {
    id: 'criu-versions-on-the-wire',
    fatal: false,
    title: 'Two CRIU versions on either end of a page transfer',
    cause: `Pages went over the network between CRIU ${source.criuVersion} (${source.pool}) and CRIU ${destination.criuVersion} (${destination.pool}). The page-server protocol is CRIU's own and changes between releases; a mismatch shows as a stalled dump, a reset connection or a lazy restore that loses its page server.`,
    remediation: 'Use the same CRIU release on both pools for page-server and lazy migrations (or migrate cold: image files are read across versions more often than the wire protocol), and mark network modes between these pools incompatible.',
    blame: 'tuple',
    evidence: `criu ${source.criuVersion} (${source.pool}) ⇄ criu ${destination.criuVersion} (${destination.pool})`,
  };
}
