import type { Settings } from '../config/schema.ts';
import type { ArtifactPolicy, RunAudit } from '../artifacts/policy.ts';
import type { NodeAddress, NodeNetworkSpec } from '../environments/network/node-network.ts';

/**
 * What a suite worker needs to know about one pool (serialisable: it crosses
 * into vitest workers). The backend fields are written by the pool's backend
 * when it starts the pool and read by the same backend's openSession.
 */
export interface PlannedPool {
  name: string;
  backend: 'namespace' | 'qemu' | 'container';
  /** Namespace backend: the node image's rootfs on the host. */
  rootfs: string;
  /** Qemu backend: the booted VM's channel socket per session (one per suite, plus those a suite declares). */
  vm?: { sockets: Record<string, string> };
  /** Container backend: the node container's agent socket (one connection per session). */
  container?: { socket: string };
  /** Qemu and container pools on a run with a node network: the node's interface (all its sessions share it). Namespace sessions get their own. */
  network?: NodeAddress;
  criuEnv: Record<string, string>;
  /** The pool's own big-mem sizes, when it overrides settings.bigMemMiB. */
  bigMemMiB?: number[];
  /** Host directory (0700) under which each suite gets its environment's work directory. */
  hostWorkDir: string;
  /** Do debug-register breakpoints reach a ptracer on this pool (its probe; null: unknown)? CRIU's diagnoses depend on it. */
  hwBreakpoints?: boolean | null;
  /** The node's CPU as it sees it (model and flags, its inventory): a migration names what the destination lacks. */
  cpu?: import('../criu/cpu-features.ts').CpuInfo | null;
  /** The node image's CRIU version (its inventory; null: unknown). */
  criuVersion?: string | null;
  /** Feature names this pool's CRIU knows (from criu --help), probed one by one. */
  features: string[];
  /** Container runtimes found in the node image (from the inventory). */
  runtimes: import('../runtimes/detect.ts').RuntimeInfo[];
  /** settings.workloadBuild image: this pool's workload binaries (host paths), built in its node image; else plan.natives.workloads. */
  workloads?: Record<string, string>;
  /** The libc its workload binaries carry, e.g. "glibc 2.36 (static, built on this machine)". */
  fixtureLibc?: string;
  /** Set when the pool could not be provisioned; suites do not run for it. */
  error?: string;
  /** What explains the error (e.g. a VM's serial console tail). */
  errorLog?: string[];
}

export type MigrationMode = (typeof import('../config/schema.ts').MIGRATION_MODES)[number];

/** One ordered pair of a migration group: dump on source, restore on destination (source = destination: the diagonal). */
export interface MigrationPair {
  group: string;
  source: string;
  destination: string;
  workloads: string[];
  modes: MigrationMode[];
  preDumps: number;
  /** big-mem: the share of its pages it keeps rewriting (percent). */
  dirtyPercent: number;
  /** tcp-external: whether the destination gets the service address (see MigrationGroup.serviceAddress). */
  serviceAddress: 'move' | 'stay';
}

export interface RunPlan {
  runId: string;
  pools: PlannedPool[];
  settings: Settings;
  /** Host paths of compiled binaries: cc-ns, cc-guard, cc-agent, each workload and the probes. */
  natives: { helper: string; guard: string; agent: string; /** cc-pause, the cri suite's sandbox binary (absent in plans made before it). */ pause?: string; /** cc-registry, the cri suite's in-node registry. */ registry?: string; workloads: Record<string, string>; probes: { hwBreakpoints: string; client: string } };
  keepArtifacts: boolean;
  /** With keepArtifacts: where, for how long, up to what size and with which key (see src/artifacts/). */
  artifacts?: ArtifactPolicy;
  /** Where audit lines go (the run's audit log and the persistent one). */
  audit?: RunAudit;
  /** The migration pairs to run now (both pools are up) and every pool they name. */
  migrations?: { pairs: MigrationPair[]; pools: PlannedPool[] };
  /** Pilots' migrations: every pool up now that a pilot migrates to (a pilot's NAME/migration → DEST runs when DEST is among them). */
  pilotDestinations?: PlannedPool[];
  /** The pilot suite: the config's pilots (each runs on the pools it names). */
  pilots?: import('../config/pilot-schema.ts').Pilot[];
  /** The run's node network, when a suite declared `network: true` (see SuiteNeeds). */
  network?: NodeNetworkSpec;
}

declare module 'vitest' {
  export interface ProvidedContext {
    plan: RunPlan;
  }
}
