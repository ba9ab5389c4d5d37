import type { LoadedConfig } from '../config/load.ts';
import type { Pool, Settings } from '../config/schema.ts';
import type { Environment } from '../environments/environment.ts';
import type { NodeNetworkSpec } from '../environments/network/node-network.ts';
import type { GuestRoot } from '../images/guest-root.ts';
import type { NodeImage } from '../images/node-image.ts';
import type { Kernel } from '../kernels/kernel.ts';
import type { Inventory } from '../results/schema.ts';
import type { PlannedPool, RunPlan } from '../plan/plan.ts';
import type { Provisioner } from './provisioner.ts';

/** A pool on its way through a run: what the backends made of it so far. */
export interface ProvisionedPool {
  /** What suite workers get to know about it (the plan's part). */
  planned: PlannedPool;
  pool: Pool;
  image: NodeImage | null;
  inventory: Inventory | null;
  /** Qemu pools: the kernel and guest root, ready to boot. */
  vm?: { kernel: Kernel; guestRoot: GuestRoot };
  phases: { provisionMs: number; bootMs: number; suitesMs: number; teardownMs: number };
}

/** What provisioning needs from the run (or from `images build`). */
export interface ProvisionContext {
  /** Resolves node images, kernels and guest roots; pools that share one share its resolution. */
  provisioner: Provisioner;
  /** The compiled guest agent (it goes into VM guest roots). */
  agent: string;
  /** A progress line for a pool. */
  progress(pool: string, what: string): void;
}

/** What starting pools needs from the run. */
export interface StartContext {
  loaded: LoadedConfig;
  cacheDir: string;
  mirror?: string | undefined;
  workRoot: string;
  natives: RunPlan['natives'];
  progress(pool: string, what: string): void;
  timeouts: Settings['timeouts'];
  /** The sessions each pool must be able to open (one per suite, plus those a suite asks for, e.g. a peer node). */
  sessions: readonly string[];
  /** --accel, else settings.accel (qemu). */
  accel: 'kvm' | 'tcg' | 'auto';
  signal?: AbortSignal | undefined;
  /** The run's node network, when a suite needs one: every node the backend starts gets an interface on it. */
  network?: NodeNetworkSpec | undefined;
  /** One value per run for KEY (e.g. the accelerator probed once for all VM waves). */
  once<T>(key: string, make: () => Promise<T>): Promise<T>;
}

/** What opening a session in a suite worker needs (serialisable parts of the plan). */
export interface SessionContext {
  /** The compiled cc-ns helper. */
  helper: string;
  timeoutMs: number;
  /** The run's node network: a namespace session gets its own interface on it (VMs and node containers got theirs at start). */
  network?: NodeNetworkSpec | undefined;
}

/**
 * A way to run pools: provision → start (each started pool's inventory is
 * read with the shared probe, see probePool) → sessions opened by suite
 * workers, as many as the suites ask for → stop. One implementation per
 * backend name, listed in registry.ts.
 */
export interface PoolBackend {
  readonly name: Pool['backend'];
  /**
   * 'host': pools on this machine's kernel, all started together before any
   * VM; 'waves': started in waves that fit the cores and the memory.
   */
  readonly placement: 'host' | 'waves';
  /** Prefixes of host temp directories this backend makes as PREFIX+pid-…: swept when their process is gone. */
  readonly tempPrefixes: readonly string[];
  /** Builds or finds what the pool needs before it can start (node image, kernel, guest root) and records it on P. Throws on failure. */
  provision(p: ProvisionedPool, ctx: ProvisionContext): Promise<void>;
  /**
   * Starts the pools of one group and reads each one's inventory (probePool);
   * a pool that does not come up gets its error and the others go on.
   * Returns what stops them all.
   */
  start(pools: readonly ProvisionedPool[], ctx: StartContext): Promise<() => Promise<void>>;
  /** Suite worker side: opens session SESSION on a started pool. */
  openSession(pool: PlannedPool, session: string, ctx: SessionContext): Promise<Environment>;
}

/** A pool before provisioning: nothing known yet but its config (and where its suites' work directories go). */
export function unprovisioned(pool: Pool, hostWorkDir: string): ProvisionedPool {
  const planned: PlannedPool = { name: pool.name, backend: pool.backend, rootfs: '', criuEnv: pool.criu.env, hostWorkDir, features: [], runtimes: [], ...(pool.bigMemMiB ? { bigMemMiB: pool.bigMemMiB } : {}) };
  return { planned, pool, image: null, inventory: null, phases: { provisionMs: 0, bootMs: 0, suitesMs: 0, teardownMs: 0 } };
}

/** Every backend's first provisioning step: the pool's node image, built or from the cache. */
export async function provisionNodeImage(p: ProvisionedPool, ctx: ProvisionContext): Promise<NodeImage> {
  ctx.progress(p.pool.name, `image ${p.pool.image}: looking in the cache…`);
  const image = await ctx.provisioner.image(p.pool.image);
  p.image = image;
  p.planned.rootfs = image.rootfs;
  return image;
}
