import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of the cri suite's second node of a pool (where a checkpoint taken on the first is restored). */
export const CRI_PEER_SESSION = 'cri-peer';

/**
 * cri: containerd's CRI in one session per pool and a second node, with the
 * workloads its pods run (made into the workload image); the run's network
 * when a pool has containerd: on a VM or node container the CRI client
 * reaches containerd over it (through a relay: src/runtimes/cri/cri-relay.ts),
 * and on every backend the tcp-external pod's peer is a client node of it.
 */
export const needs = {
  sessions: ['cri', CRI_PEER_SESSION],
  workloads: ['counter', 'process-tree', 'tcp-established', 'file-lock', 'tcp-external'],
  copyWorkloads: true,
  network: { nodesWith: { file: 'usr/bin/containerd', package: 'containerd' } },
} as const satisfies SuiteNeeds;
