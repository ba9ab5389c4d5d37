import type { SuiteNeeds } from './suite-needs.ts';

/** round-trip: the workloads of settings.workloads, one session. */
export const needs = {
  sessions: ['round-trip'],
  workloads: [],
  copyWorkloads: true,
} as const satisfies SuiteNeeds;
