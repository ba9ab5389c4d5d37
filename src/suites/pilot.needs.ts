import type { SuiteNeeds } from './suite-needs.ts';

/** pilot: the operator's own services (config pilots:), one session per pool; the client prober is copied in by the suite itself. */
export const needs = {
  sessions: ['pilot'],
  workloads: [],
  copyWorkloads: false,
  poolsOf: (config) => [...new Set(config.pilots.flatMap((p) => p.pools))],
} as const satisfies SuiteNeeds;
