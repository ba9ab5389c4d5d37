import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of the cri suite's second node of a pool (where a checkpoint taken on the first is restored). */
export const CRI_PEER_SESSION = 'cri-peer';

/**
 * cri: containerd's CRI in one session per pool and a second node, with the
 * workloads its pods run (made into the workload image); the run's network
 * when a VM or node-container pool has containerd (the CRI client reaches it
 * there over that network, through a relay: src/runtimes/cri/cri-relay.ts).
 */
export const needs = {
  sessions: ['cri', CRI_PEER_SESSION],
  workloads: ['counter', 'process-tree', 'tcp-established', 'file-lock'],
  copyWorkloads: true,
  network: { agentNodesWith: { file: 'usr/bin/containerd', package: 'containerd' } },
} as const satisfies SuiteNeeds;
