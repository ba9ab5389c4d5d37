import type { Config } from '../config/schema.ts';

/**
 * What a suite needs from the host, declared apart from its vitest file so
 * the host can read it without loading the suite: the host provides it for
 * every pool without knowing the suite's name.
 */
export interface SuiteNeeds {
  /**
   * Sessions the suite opens on each pool, its own first (one agent channel
   * each on a VM); more when it drives another node of the pool, e.g. the
   * destination of a podman export.
   */
  sessions: readonly string[];
  /** Workloads it runs whatever settings.workloads says (compiled, and copied into its sessions). */
  workloads: readonly string[];
  /** Whether its sessions get the compiled workloads copied in (settings.workloads and the above). */
  copyWorkloads: boolean;
  /**
   * Whether its nodes need a real network between them (page server, lazy
   * pages, network continuity): the run then makes its node network (a host
   * bridge) and every node gets an address on it (Environment.network).
   * An object: only when a pool of the run has a node image with `file` (a
   * built image: its rootfs; before: its debootstrap list names `package`),
   * whatever its backend — the cri suite speaks to containerd over the
   * network on a VM or node container (whose work directory the host
   * reaches only through the agent), and its tcp-external pod's peer is a
   * client node of that network on every backend.
   */
  network?: boolean | { nodesWith: { file: string; package: string } };
  /** The pools it runs on, when not every pool of the run (the pilot suite: the pools its pilots name). */
  poolsOf?: (config: Pick<Config, 'pilots'>) => readonly string[];
}
