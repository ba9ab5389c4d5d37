import { z } from 'zod';
import { classNames } from './catalogue/index.ts';
import { mirrorUrlProblem } from './mirror.ts';
import { Pilot } from './pilot-schema.ts';

/** Names of pools and images end up in file names and report anchors. */
const Name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a name of lowercase letters, digits, ".", "_" or "-" (max 63), starting with a letter or digit');

/** The default round-trip set: the catalogue's classes marked inDefault (the default run's time budget decides which). */
export const WORKLOADS: readonly string[] = classNames((c) => c.inDefault);
/** Fixtures that exist for the harness's own tests, never in the default set. */
export const SELFTEST_WORKLOADS = ['hang'] as const;
/** What the runtime suite checkpoints inside containers: the catalogue's classes marked container. */
export const CONTAINER_WORKLOADS: readonly string[] = classNames((c) => c.container);
/** Every workload a config may name: each class of the catalogue, and the self-test fixtures. */
const WORKLOAD_NAMES: string[] = [...classNames(), ...SELFTEST_WORKLOADS];
export const WorkloadName = z.enum(WORKLOAD_NAMES as [string, ...string[]], {
  error: (i) => `a workload class of the catalogue (${classNames().join(', ')})${typeof i.input === 'string' ? `, not "${i.input}"` : ''}`,
});
export const RUNTIME_NAMES = ['runc', 'crun', 'podman'] as const;
export const SUITES = ['criu-check', 'round-trip', 'runtime', 'cri', 'migration', 'security', 'pilot'] as const;
/**
 * What runs when settings.suites is not given: every suite but pilot (a config with pilots: gets pilot added, see
 * src/config/pilot-checks.ts) and security, which costs ~3 s on a host pool but ~2 min on a TCG VM pool here
 * (transfer-integrity's moves through the guest agent): name it in settings.suites to run it.
 */
export const DEFAULT_SUITES = ['criu-check', 'round-trip', 'runtime', 'cri', 'migration'] as const satisfies readonly (typeof SUITES)[number][];
/** How a migration moves a workload between pools (see src/runner/migration.ts). */
export const MIGRATION_MODES = ['cold', 'pre-copy', 'page-server', 'lazy', 'runtime', 'cri'] as const;
/** Mode cri moves these (the containers the cri suite also runs in pods); a group's other workloads get no cri cell. */
export const CRI_MIGRATION_WORKLOADS = ['counter', 'process-tree', 'tcp-external'] as const;
/** What a migration moves: process workloads CRIU dumps itself. */
export const MIGRATION_WORKLOADS = ['counter', 'open-file', 'pipe-pair', 'process-tree', 'threads', 'big-mem', 'tcp-external'] as const;
/** tcp-external in migrations: whether the destination gets the service address the connection is bound to (see MigrationGroup). */
export const SERVICE_ADDRESS_POLICIES = ['move', 'stay'] as const;

export const DebootstrapImage = z.strictObject({
  debootstrap: z.strictObject({
    suite: z.string().regex(/^[a-z][a-z0-9-]+$/, 'a Debian suite name such as "bookworm" or "trixie"'),
    include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name')).default([]),
    mirror: z.string().refine((v) => !mirrorUrlProblem(v), 'a Debian mirror URL (http://, https://, ftp:// or file://)').optional(),
  }),
  description: z.string().optional(),
});
export const RootfsImage = z.strictObject({
  rootfs: z.string().min(1),
  description: z.string().optional(),
});
export const TarballImage = z.strictObject({
  tarball: z.string().min(1),
  description: z.string().optional(),
});
export const ImageSpec = z.union([DebootstrapImage, RootfsImage, TarballImage], {
  error: 'an image: {debootstrap: {suite, include}}, {rootfs: DIR} or {tarball: FILE}',
});
export type ImageSpec = z.infer<typeof ImageSpec>;

const Suite = z.string().regex(/^[a-z][a-z0-9-]+$/, 'a Debian suite name such as "bookworm" or "trixie"');
const KERNEL_FORMS =
  'a kernel: "host" (this machine\'s own), "debian/SUITE" (e.g. debian/bookworm: linux-image-amd64 of that suite), {debian: SUITE, package: NAME}, {deb: FILE} (a linux-image .deb) or {vmlinuz: FILE, modules: DIR}';
export const KernelSpec = z.union(
  [
    z.literal('host'),
    z.string().regex(/^debian\/[a-z][a-z0-9-]+$/, KERNEL_FORMS),
    z.strictObject({ debian: Suite, package: z.string().regex(/^linux-image-[a-z0-9.+~-]+$/, 'a linux-image-* package name').optional() }),
    z.strictObject({ deb: z.string().min(1) }),
    z.strictObject({ vmlinuz: z.string().min(1), modules: z.string().min(1) }),
  ],
  { error: KERNEL_FORMS },
);
export type KernelSpec = z.infer<typeof KernelSpec>;

export const VmSettings = z.strictObject({
  /** Guest memory. Checkpoint images live in the guest's RAM: leave room for the biggest workload twice. */
  memoryMiB: z.number().int().min(256).max(262144).default(3072),
  cpus: z.number().int().min(1).max(64).default(2),
  /** Kernel modules loaded at boot in addition to the ones CRIU needs (names as modprobe knows them). */
  modules: z.array(z.string().regex(/^[a-zA-Z0-9_-]+$/, 'a module name')).default([]),
  /**
   * QEMU CPU model the guest sees (-cpu), e.g. "max", "qemu64", "Nehalem", "Skylake-Client-v4", optionally with
   * feature switches ("Haswell,-avx2"). Absent: "host" under KVM, "max" under TCG. Checked against
   * `qemu-system-x86_64 -cpu help` when the pool starts.
   */
  cpu: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(,[+-]?[a-z0-9][a-z0-9_.-]*(=[a-z0-9_.-]+)?)*$/, 'a QEMU CPU model name such as "max", "qemu64" or "Nehalem" (see qemu-system-x86_64 -cpu help), optionally with ",+feature" / ",-feature"')
    .optional(),
});

export const Pool = z
  .strictObject({
    name: Name,
    description: z.string().optional(),
    kernel: KernelSpec,
    image: Name,
    /**
     * namespace: the node image on this machine's kernel; qemu: the node image on the pool's kernel in a VM;
     * container: the node image as a privileged container through a Docker-API engine (testcontainers), on this machine's kernel.
     * Default follows the kernel (host → namespace).
     */
    backend: z.enum(['namespace', 'qemu', 'container'], { error: 'backend "namespace" (host kernel), "qemu" (a VM) or "container" (a privileged container through a Docker API)' }).optional(),
    vm: VmSettings.optional(),
    /** This pool's big-mem sizes (MiB), instead of settings.bigMemMiB (e.g. smaller under TCG emulation). */
    bigMemMiB: z.array(z.number().int().min(1).max(65536)).min(1).optional(),
    criu: z
      .strictObject({
        /** Extra environment for every criu invocation (e.g. a documented workaround). */
        env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'), z.string()).default({}),
      })
      .default({ env: {} }),
  })
  .superRefine((p, ctx) => {
    const backend = p.backend ?? (p.kernel === 'host' ? 'namespace' : 'qemu');
    if ((backend === 'namespace' || backend === 'container') && p.kernel !== 'host')
      ctx.addIssue({ code: 'custom', path: ['backend'], message: `backend "qemu" for a kernel other than "host" (the ${backend} backend runs on this machine's kernel)` });
    if (backend === 'qemu' && p.kernel === 'host')
      ctx.addIssue({ code: 'custom', path: ['kernel'], message: 'a kernel to boot (e.g. debian/bookworm) for backend "qemu"; "host" is only for the namespace backend' });
    if (backend !== 'qemu' && p.vm) ctx.addIssue({ code: 'custom', path: ['vm'], message: `no vm settings for the ${backend} backend` });
  })
  .transform((p) => ({ ...p, backend: p.backend ?? (p.kernel === 'host' ? ('namespace' as const) : ('qemu' as const)), vm: VmSettings.parse(p.vm ?? {}) }));
export type Pool = z.infer<typeof Pool>;

export const Timeouts = z.strictObject({
  /** Bringing an environment up. */
  environmentMs: z.number().int().positive().default(15_000),
  /** Any short command (criu --version, kill, feature probes). */
  commandMs: z.number().int().positive().default(30_000),
  /** One criu dump or restore. */
  criuMs: z.number().int().positive().default(20_000),
  /** From workload start to its "ready" line. */
  readyMs: z.number().int().positive().default(10_000),
  /** From the verify signal to PASS or FAIL. */
  verifyMs: z.number().int().positive().default(10_000),
  /** Building one node image. */
  imageBuildMs: z.number().int().positive().default(900_000),
  /** From QEMU's start to the guest agent's first answer. */
  bootMs: z.number().int().positive().default(180_000),
});

export const Settings = z.strictObject({
  workloads: z.array(WorkloadName).min(1).default([...WORKLOADS]),
  suites: z.array(z.enum(SUITES)).min(1).default([...DEFAULT_SUITES]),
  /** The runtime suite: which container runtimes to drive where the node image has them. */
  runtimes: z.array(z.enum(RUNTIME_NAMES)).min(1).default([...RUNTIME_NAMES]),
  /** Each round trip runs this many times; the cell reports the success rate and p50/p95/max. */
  repeat: z.number().int().min(1).max(1000).default(1),
  /** big-mem sizes (MiB): the scale curve of dump time and image size. */
  bigMemMiB: z.array(z.number().int().min(1).max(65536)).min(1).default([64, 256, 1024]),
  /** VM accelerator: kvm, tcg, or auto (a short probe boot decides). */
  accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  /**
   * Where the workload fixtures are compiled: host (this machine's cc and glibc, static) or image (inside each
   * pool's node image with its own cc and libc, still static; the image needs gcc and libc6-dev). The
   * application's libc decides what CRIU meets (e.g. rseq with glibc >= 2.35); each cell records which it used.
   */
  workloadBuild: z.enum(['host', 'image']).default('host'),
  timeouts: Timeouts.default(() => Timeouts.parse({})),
  /**
   * A FAIL whose diagnosis has a remedy the harness can apply (a signature's remedy: block) is re-run once
   * with it, and the cell records whether it held. false: no re-runs (each costs about one more round trip).
   */
  remedies: z.boolean().default(true),
  /**
   * At most this many remedy re-runs per pool, suite and diagnosis (the rest of that group's cells say "not re-run"):
   * one cause failing 36 cells on a TCG VM pool does not cost 36 more round trips to prove one remedy.
   */
  remedyReruns: z.number().int().min(1).max(1000).default(3),
  /** The operator's own signature files (src/config/signature-schema.ts), relative to the config file; checked at load. */
  signatures: z.array(z.string().min(1, 'a signature file path')).default([]),
});

/**
 * A migration group: every ordered pair of its pools (the diagonal, source =
 * destination, is the plain round trip), or the pairs from × to.
 */
export const MigrationGroup = z
  .strictObject({
    name: Name,
    description: z.string().optional(),
    pools: z.array(Name).min(1).optional(),
    from: z.array(Name).min(1).optional(),
    to: z.array(Name).min(1).optional(),
    workloads: z.array(z.enum(MIGRATION_WORKLOADS)).min(1).default(['counter']),
    modes: z.array(z.enum(MIGRATION_MODES)).min(1).default(['cold']),
    /** pre-copy: how many pre-dumps before the final dump. */
    preDumps: z.number().int().min(1).max(10).default(2),
    /** big-mem: the share of its pages it keeps rewriting while it runs (what pre-copy and lazy are for). */
    dirtyPercent: z.number().int().min(0).max(100).default(0),
    /**
     * tcp-external: its connection to a peer on a third node is bound to a service address of the run's network.
     * "move": the address leaves the source after the dump and is given to the destination before the restore
     * (the connection must survive); "stay": the destination never gets it (the restore must FAIL, diagnosed:
     * tcp-address-missing). The diagonal (source = destination) keeps the address either way.
     */
    serviceAddress: z.enum(SERVICE_ADDRESS_POLICIES, { error: 'serviceAddress "move" (the destination gets the service address) or "stay" (it does not)' }).default('move'),
  })
  .superRefine((g, ctx) => {
    if (g.pools && (g.from || g.to)) ctx.addIssue({ code: 'custom', path: ['pools'], message: 'either "pools" (every ordered pair) or "from" and "to", not both' });
    if (g.modes.includes('cri') && !g.workloads.some((w) => (CRI_MIGRATION_WORKLOADS as readonly string[]).includes(w)))
      ctx.addIssue({ code: 'custom', path: ['workloads'], message: `mode "cri" moves a container through CRI: name at least one of ${CRI_MIGRATION_WORKLOADS.join(', ')} in the group's workloads` });
    if (!g.pools && !(g.from && g.to)) ctx.addIssue({ code: 'custom', path: [g.from ? 'to' : 'from'], message: 'the pools of the group: "pools: [A, B, …]" (every ordered pair) or both "from: […]" and "to: […]"' });
  });
export type MigrationGroup = z.infer<typeof MigrationGroup>;

/** Modes whose pages travel over the network between the two nodes. */
const NETWORK_MODES: readonly string[] = ['page-server', 'lazy'];
/** Workloads whose peer lives on a third node of the network (a client node). */
const NETWORK_WORKLOADS: readonly string[] = ['tcp-external'];

/** Does a migration (a group, or a pair of it) need the run's node network? Then the run makes one, and the host needs `ip` and /dev/net/tun. */
export function migrationNeedsNetwork(m: { modes: readonly string[]; workloads: readonly string[] }): boolean {
  return m.modes.some((x) => NETWORK_MODES.includes(x)) || m.workloads.some((w) => NETWORK_WORKLOADS.includes(w));
}

export const Config = z.strictObject({
  images: z.record(Name, ImageSpec).default({}),
  pools: z.array(Pool).min(1, 'at least one pool'),
  /** Dump on one pool, restore on another: groups of pools, their workloads and modes. */
  migrations: z.array(MigrationGroup).default([]),
  /** The operator's own services, judged GO / CONDITIONAL / NO-GO per pool (src/config/pilot-schema.ts). */
  pilots: z.array(Pilot).default([]),
  // A fresh object per config (a function): a load that edits its settings (the pilot suite joining) must not edit the next one's.
  settings: Settings.default(() => Settings.parse({})),
});
export type Config = z.infer<typeof Config>;
export type Settings = z.infer<typeof Settings>;

/** How results and messages name a kernel. */
export function kernelLabel(k: KernelSpec): string {
  if (typeof k === 'string') return k;
  if ('debian' in k) return k.package ? `debian/${k.debian} ${k.package}` : `debian/${k.debian}`;
  if ('deb' in k) return k.deb;
  return k.vmlinuz;
}
