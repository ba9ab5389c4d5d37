import type { SuiteNeeds } from './suite-needs.ts';

/** pilot: the operator's own services (config pilots:), one session per pool; the client prober is copied in by the suite itself. */
export const needs = {
  sessions: ['pilot'],
  workloads: [],
  copyWorkloads: false,
} as const satisfies SuiteNeeds;
