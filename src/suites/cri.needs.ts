import type { SuiteNeeds } from './suite-needs.ts';

/** cri: containerd's CRI in one session per pool, with the workloads its pods run (made into the workload image). */
export const needs = {
  sessions: ['cri'],
  workloads: ['counter', 'process-tree'],
  copyWorkloads: true,
} as const satisfies SuiteNeeds;
