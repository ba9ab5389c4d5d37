import { z } from 'zod';

/** Names of pools and images end up in file names and report anchors. */
const Name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a name of lowercase letters, digits, ".", "_" or "-" (max 63), starting with a letter or digit');

export const WORKLOADS = ['counter', 'open-file', 'pipe-pair', 'process-tree', 'threads', 'big-mem'] as const;
/** Fixtures that exist for the harness's own tests, never in the default set. */
export const SELFTEST_WORKLOADS = ['hang'] as const;
export const WorkloadName = z.enum([...WORKLOADS, ...SELFTEST_WORKLOADS]);

export const DebootstrapImage = z.strictObject({
  debootstrap: z.strictObject({
    suite: z.string().regex(/^[a-z][a-z0-9-]+$/, 'a Debian suite name such as "bookworm" or "trixie"'),
    include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name')).default([]),
    mirror: z.url().optional(),
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

export const Pool = z.strictObject({
  name: Name,
  description: z.string().optional(),
  kernel: z.literal('host', { error: 'kernel "host" (the machine\'s own kernel; VM kernels come with the qemu backend)' }),
  image: Name,
  backend: z.literal('namespace', { error: 'backend "namespace"' }).default('namespace'),
  criu: z
    .strictObject({
      /** Extra environment for every criu invocation (e.g. a documented workaround). */
      env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'), z.string()).default({}),
    })
    .default({ env: {} }),
});
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
});

export const Settings = z.strictObject({
  workloads: z.array(WorkloadName).min(1).default([...WORKLOADS]),
  suites: z.array(z.enum(['criu-check', 'round-trip'])).min(1).default(['criu-check', 'round-trip']),
  /** Each round trip runs this many times; the cell reports the success rate and p50/p95/max. */
  repeat: z.number().int().min(1).max(1000).default(1),
  /** big-mem sizes (MiB): the scale curve of dump time and image size. */
  bigMemMiB: z.array(z.number().int().min(1).max(65536)).min(1).default([64, 256, 1024]),
  timeouts: Timeouts.default(Timeouts.parse({})),
});

export const Config = z.strictObject({
  images: z.record(Name, ImageSpec).default({}),
  pools: z.array(Pool).min(1, 'at least one pool'),
  settings: Settings.default(Settings.parse({})),
});
export type Config = z.infer<typeof Config>;
export type Settings = z.infer<typeof Settings>;
