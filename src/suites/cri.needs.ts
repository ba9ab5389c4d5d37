import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of the cri suite's second node of a pool (where a checkpoint taken on the first is restored). */
export const CRI_PEER_SESSION = 'cri-peer';

/**
 * cri: containerd's CRI in one session per pool and a second node, with the
 * workloads its pods run (made into the workload image); the run's network
 * when a pool is a VM or a node container (the CRI client reaches containerd
 * there over it, through a relay: src/runtimes/cri/cri-relay.ts).
 */
export const needs = {
  sessions: ['cri', CRI_PEER_SESSION],
  workloads: ['counter', 'process-tree', 'tcp-established', 'file-lock'],
  copyWorkloads: true,
  network: 'agent-nodes',
} as const satisfies SuiteNeeds;
