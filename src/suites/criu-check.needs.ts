import type { SuiteNeeds } from './suite-needs.ts';

/** criu-check: CRIU's own checks, one session, no workloads. */
export const needs = {
  sessions: ['criu-check'],
  workloads: [],
  copyWorkloads: false,
} as const satisfies SuiteNeeds;
