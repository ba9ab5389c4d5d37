import { z } from 'zod';
import { PILOT_VERDICTS } from '../config/pilot-schema.ts';

export const Status = z.enum(['PASS', 'FAIL', 'ERROR', 'SKIP']);
export type Status = z.infer<typeof Status>;

export const Diagnosis = z.strictObject({
  id: z.string(),
  fatal: z.boolean(),
  title: z.string(),
  cause: z.string(),
  remediation: z.string(),
  blame: z.enum(['tuple', 'environment', 'note']),
  evidence: z.string(),
});

/** One moment of a cell's attempt: milliseconds since the attempt started, and what happened then ("dump start", "restore end: exit 0", …). */
export const TimelineEvent = z.strictObject({ atMs: z.number().nonnegative(), event: z.string() });
export type TimelineEvent = z.infer<typeof TimelineEvent>;

/** What a remedy re-run concluded: PASS → verified, FAIL → did not help, ERROR/SKIP (or a re-run that broke) → could not run. */
export const RemedyResult = z.enum(['remedy verified', 'remedy did not help', 'remedy could not run']);
export type RemedyResult = z.infer<typeof RemedyResult>;

/**
 * A FAIL whose diagnosis has a remedy the harness can apply (an environment variable, a CRIU
 * option, another runtime on the same node): the cell re-run once with it. The cell's own
 * verdict stays FAIL (the tuple is broken as configured); this says whether the remedy holds.
 */
export const CellRemedy = z.strictObject({
  /** The diagnosis (signature id) whose remedy was applied. */
  signature: z.string(),
  /** What was applied, as a person would type it: "CRIU_FAULT=130", "--tcp-established", "runtime runc". */
  applied: z.string(),
  /** The re-run's own verdict (never PASS unless the re-run verified the workload). */
  status: Status,
  result: RemedyResult,
  /** The re-run's one line: why this result. */
  reason: z.string(),
  /** The re-run's commands (as in Cell.commands). */
  commands: z.array(z.string()).optional(),
  /** The re-run's diagnoses' ids, when it failed. */
  diagnoses: z.array(z.string()).optional(),
  durationMs: z.number().nonnegative().optional(),
  /** The re-run's artifacts, kept with --keep-artifacts (as Cell.artifacts). */
  artifacts: z.string().optional(),
});
export type CellRemedy = z.infer<typeof CellRemedy>;

export const Cell = z.strictObject({
  pool: z.string(),
  suite: z.string(),
  check: z.string(),
  /** criu-check: the CRIU feature this cell probes (criu check --feature NAME). Absent in files written before cells carried it. */
  feature: z.string().optional(),
  /** The workload the cell runs (round-trip, runtime). */
  workload: z.string().optional(),
  /** How it is checkpointed: dump, pre-dump, leave-running; runtime also run (no checkpoint) and migrate. */
  mode: z.string().optional(),
  /** big-mem: the memory the workload fills (MiB). */
  sizeMiB: z.number().int().positive().optional(),
  /** Round-trip and runtime: the libc the workload fixture was built with, and where (settings.workloadBuild). */
  fixtureLibc: z.string().optional(),
  /** runtime: the container runtime (runc, crun, podman). */
  runtime: z.string().optional(),
  /** Migrations: the pool the checkpoint is taken on and the pool it is restored on. */
  source: z.string().optional(),
  destination: z.string().optional(),
  /** pilot suite: the pilot (config pilots[].name) this cell measures. */
  pilot: z.string().optional(),
  status: Status,
  /** One line a person reads first: why this status. */
  reason: z.string(),
  diagnoses: z.array(Diagnosis),
  durations: z.strictObject({
    totalMs: z.number().nonnegative(),
    /** Runtime suite: starting the container. */
    startMs: z.number().nonnegative().optional(),
    dumpMs: z.number().nonnegative().optional(),
    restoreMs: z.number().nonnegative().optional(),
    preDumpMs: z.number().nonnegative().optional(),
    verifyMs: z.number().nonnegative().optional(),
  }),
  metrics: z
    .strictObject({
      /** Checkpoint image size on disk (bytes). */
      imageBytes: z.number().int().nonnegative().optional(),
      /** CRIU's own figures from stats-dump (times in µs, page counts). */
      criuDump: z.record(z.string(), z.number()).optional(),
      /** CRIU's own figures from stats-restore. */
      criuRestore: z.record(z.string(), z.number()).optional(),
      /** Why CRIU's stats could not be read, when they could not. */
      statsError: z.string().optional(),
      /**
       * counter: the longest stall the workload itself saw (µs). With
       * --leave-running that is the time CRIU kept it frozen (compare
       * criuDump.frozenTimeUs); across dump + restore, the downtime it lived through.
       */
      observedStallUs: z.number().nonnegative().optional(),
      /** Runtime suite: what the runtime itself reported (podman --print-stats; µs), flattened. */
      runtimeStats: z.record(z.string(), z.number()).optional(),
      /** podman export: size of the checkpoint archive (bytes). */
      archiveBytes: z.number().int().nonnegative().optional(),
      /** big-mem: dump time per GiB of image (the scale curve). */
      dumpMsPerGiB: z.number().nonnegative().optional(),
      /**
       * Migrations: freezeMs (the final dump, source), transferBytes and transferMs (images and the
       * workload's files, host-carried), transferIntegrityMs (sealing and checking the moved files' SHA-256
       * manifest, see transfer-integrity.ts), restoreMs (destination), downtimeMs (final dump start to
       * restore end), downtimeVsCold (this mode's downtime over cold's on the same pair), and per
       * pre-dump i of pre-copy: preDump{i}Pages, preDump{i}Bytes, preDump{i}Ms.
       */
      migration: z.record(z.string(), z.number()).optional(),
      /**
       * pilot suite, over the stage's attempts: attempts, successes, freezeMsP95, freezeMsMax,
       * checkpointMsMax, restoreMsMax, imageBytesMax, clientGapMsMax, clientErrors, clientProbes.
       */
      pilot: z.record(z.string(), z.number()).optional(),
      /**
       * security suite: what the cell proved, by name: secret-in-image per place (environ, heap, filePrivate,
       * fileShared, deletedFile: is the secret in the image, plaintext?) and counts; archive-at-rest modes and
       * compression; checkpoint-api-access what was looked at; forensic-restore-sandbox and transfer-integrity
       * what the restored process could do and what was refused. Never a secret or memory contents.
       */
      security: z.record(z.string(), z.union([z.boolean(), z.number(), z.string()])).optional(),
    })
    .default({}),
  /** Error and warning lines of CRIU's log and the last lines (never memory contents). */
  logExcerpt: z.array(z.string()),
  /** CRIU commands run, as argv (without the harness's paths to images). */
  commands: z.array(z.string()).default([]),
  /** What the workload printed (ready, info, PASS/FAIL lines). */
  workloadOutput: z.array(z.string()).optional(),
  /** With settings.repeat > 1: how many attempts, how many passed. */
  repetitions: z.strictObject({ attempts: z.number().int().positive(), successes: z.number().int().nonnegative(), successRate: z.number().min(0).max(1) }).optional(),
  /** With settings.repeat > 1: each figure over all attempts (durations in ms, CRIU times in µs). */
  distribution: z.record(z.string(), z.strictObject({ n: z.number().int(), p50: z.number(), p95: z.number(), max: z.number() })).optional(),
  /**
   * Migrations whose restore failed on the destination: the playbook's fallback, tried for real
   * (the same images restored on the source, the workload verifying itself there).
   */
  fallback: z.strictObject({ status: Status, reason: z.string() }).optional(),
  /** The shown attempt's steps in time (started, ready, dump start/end, restore start/end, verify, cleanup…). */
  timeline: z.array(TimelineEvent).optional(),
  /** A FAIL whose diagnosis has a remedy the harness applies: the re-run with it (see CellRemedy). */
  remedy: CellRemedy.optional(),
  /** Artifacts kept with --keep-artifacts (a root-only directory, RUN-ID/artifacts/…), or why not: "not kept: quota (…)", "not kept: error (…)". */
  artifacts: z.string().optional(),
  startedAt: z.iso.datetime(),
});
export type Cell = z.infer<typeof Cell>;

export const Inventory = z.strictObject({
  kernelRelease: z.string(),
  /** Relevant CONFIG_ flags from /proc/config.gz (y, m, "is not set" → null), or null when unreadable. */
  kernelConfig: z.record(z.string(), z.string().nullable()).nullable(),
  criuVersion: z.string().nullable(),
  libc: z.string().nullable(),
  cgroupMode: z.enum(['v1', 'v2', 'hybrid', 'unknown']),
  /** Do x86 debug-register breakpoints reach a ptracer here? (CRIU < 4.2 hangs without them.) */
  hwBreakpoints: z.strictObject({ works: z.boolean().nullable(), detail: z.string() }),
  packages: z.record(z.string(), z.string()),
  /**
   * The CPU as the node sees it (/proc/cpuinfo of its first processor): what a checkpoint taken here may
   * need on a destination. null: unreadable; absent in files written before pools recorded it.
   */
  cpu: z.strictObject({ model: z.string(), flags: z.array(z.string()) }).nullable().optional(),
  /** Container runtimes in the node image (absent: not probed). */
  runtimes: z
    .array(
      z.strictObject({
        name: z.enum(['runc', 'crun', 'podman']),
        version: z.string().nullable(),
        features: z.array(z.string()),
        checkpoint: z.boolean(),
        detail: z.string(),
        ociRuntime: z.string().optional(),
        /** How the harness runs it (cgroup manager, storage, network, limits): what a reader needs to reproduce a cell. */
        settings: z.record(z.string(), z.string()).optional(),
      }),
    )
    .optional(),
  /** Container pools: the engine and the node container. */
  container: z.strictObject({ engine: z.string(), image: z.string(), containerId: z.string() }).optional(),
  /** Qemu pools: how the VM ran. */
  vm: z
    .strictObject({
      accelerator: z.enum(['kvm', 'tcg']),
      /** Why this accelerator (probe result or --accel). */
      acceleratorReason: z.string(),
      kernel: z.string(),
      qemu: z.string(),
      memoryMiB: z.number().int(),
      cpus: z.number().int(),
      /** The QEMU CPU model the guest ran on (-cpu: the pool's vm.cpu, or host/max by accelerator). Absent in files written before pools recorded it. */
      cpuModel: z.string().optional(),
      guestRootBytes: z.number().int(),
      modulesLoaded: z.number().int(),
    })
    .optional(),
});
export type Inventory = z.infer<typeof Inventory>;

/** Where a pool's time went (ms): provision = image, kernel and guest root (0 when cached); boot = VM start to first guest command. */
export const Phases = z.strictObject({
  provisionMs: z.number().nonnegative(),
  bootMs: z.number().nonnegative(),
  suitesMs: z.number().nonnegative(),
  teardownMs: z.number().nonnegative(),
});

export const PoolResult = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  kernel: z.string(),
  backend: z.string(),
  image: z.strictObject({
    name: z.string(),
    source: z.enum(['debootstrap', 'rootfs', 'tarball']),
    key: z.string(),
    osRelease: z.string(),
    builtAt: z.string().optional(),
    mirror: z.string().optional(),
    builtThisRun: z.boolean(),
    buildMs: z.number().nonnegative(),
  }).nullable(),
  criuEnv: z.record(z.string(), z.string()),
  inventory: Inventory.nullable(),
  /** CRIU features probed one by one: name → available. Absent: not probed or probe broke. */
  capabilities: z.record(z.string(), z.boolean()),
  /** Set when the pool could not be brought up at all (its cells are ERROR). */
  error: z.string().optional(),
  phases: Phases.optional(),
});
export type PoolResult = z.infer<typeof PoolResult>;

/** One row of a pilot's evidence: a criterion (or a stage's status) measured against its limit on one cell. */
export const PilotReason = z.strictObject({
  /** restoreSuccessRate, freezeMsP95, checkpointMsMax, restoreMsMax, imageBytesMax, clientGapMsMax, clientErrorsMax, heldConnectionSurvived, or status. */
  criterion: z.string(),
  /** null: not measured (the verdict is then UNDECIDED unless the stage failed anyway). */
  measured: z.union([z.number(), z.string()]).nullable(),
  limit: z.union([z.number(), z.string()]),
  ok: z.boolean(),
  /** The cell's check (e.g. "redis/checkpoint-restore"). */
  cell: z.string(),
  /** A percentile's criterion: how many values it was taken over (nearest rank: a p95 of fewer than 20 is their maximum). */
  samples: z.number().int().min(0).optional(),
});
export type PilotReason = z.infer<typeof PilotReason>;

/** A pilot's readiness on one pool, judged from its cells against its criteria (src/matrix/pilot-verdicts.ts). */
export const PilotVerdict = z.strictObject({
  pilot: z.string(),
  pool: z.string(),
  verdict: z.enum(PILOT_VERDICTS),
  /** CONDITIONAL: what must hold for checkpoint/restore to be used ("only without established TCP: clients must reconnect"). */
  conditions: z.array(z.string()),
  /** One line a person reads first: why this verdict. */
  why: z.string(),
  reasons: z.array(PilotReason),
  /** The playbook's response to the failure seen (NO-GO), or what the condition means in practice (CONDITIONAL); null otherwise. */
  response: z.string().nullable(),
  /** The cells (checks) the verdict was judged on. */
  evidence: z.array(z.string()),
});
export type PilotVerdict = z.infer<typeof PilotVerdict>;

export const RunResults = z.strictObject({
  schema: z.literal('criu-compat/results'),
  schemaVersion: z.literal(1),
  runId: z.string(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  tool: z.strictObject({ name: z.literal('criu-compat'), version: z.string() }),
  host: z.strictObject({ hostname: z.string(), kernelRelease: z.string(), arch: z.string(), cpus: z.number().int(), memoryBytes: z.number() }),
  config: z.strictObject({ file: z.string(), pools: z.array(z.string()) }),
  pools: z.array(PoolResult),
  cells: z.array(Cell),
  summary: z.strictObject({
    PASS: z.number().int(),
    FAIL: z.number().int(),
    ERROR: z.number().int(),
    SKIP: z.number().int(),
    /** How many cells never ran because the run was interrupted (the notRun list); not among the four above. Absent in older files: none. */
    notRun: z.number().int().nonnegative().optional(),
  }),
  /** The run was stopped (Ctrl-C, SIGTERM): cells that did not finish are in notRun, not in cells. */
  interrupted: z.boolean(),
  /**
   * Cells that never ran, or never finished, because the run was interrupted:
   * they have no verdict, so they are neither in cells nor counted as ERROR.
   * check "*": none of that suite's checks ran on that pool (stopped while
   * it was being provisioned, or before its suites started). Optional, so
   * that results written before it existed still read (schemaVersion 1).
   */
  notRun: z.array(z.strictObject({ pool: z.string(), suite: z.string(), check: z.string() })).optional(),
  /** This run is one shard of a larger matrix (run --shard INDEX/COUNT). */
  shard: z.strictObject({ index: z.number().int().positive(), count: z.number().int().positive() }).optional(),
  /** A merged run: the shard runs it was made from, with the host each ran on. */
  mergedFrom: z
    .array(z.strictObject({ runId: z.string(), host: z.string(), shard: z.string().optional(), pools: z.array(z.string()) }))
    .optional(),
  /** The config's pilots: one readiness verdict per pilot and pool of this run (absent: the run had no pilot suite). */
  pilots: z.array(PilotVerdict).optional(),
  exitCode: z.union([z.literal(0), z.literal(1), z.literal(2)]),
});
export type RunResults = z.infer<typeof RunResults>;

/** 0: every cell passed or skipped; 1: a tuple failed; 2: the harness or environment broke. */
export function exitCodeFor(cells: readonly Cell[], poolErrors = 0): 0 | 1 | 2 {
  if (poolErrors > 0 || cells.some((c) => c.status === 'ERROR')) return 2;
  if (cells.some((c) => c.status === 'FAIL')) return 1;
  return 0;
}

/** Counts per status; with the not-run list, its length as notRun. */
export function summarize(cells: readonly Cell[], notRun?: readonly NotRun[]): RunResults['summary'] {
  const s: RunResults['summary'] = { PASS: 0, FAIL: 0, ERROR: 0, SKIP: 0 };
  for (const c of cells) s[c.status]++;
  if (notRun) s.notRun = notRun.length;
  return s;
}

export type NotRun = NonNullable<RunResults['notRun']>[number];
