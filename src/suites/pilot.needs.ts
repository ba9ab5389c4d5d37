import type { SuiteNeeds } from './suite-needs.ts';

/** The session of a pool's node in pilots' migrations (source or destination): its work directory is the same path on every node. */
export const PILOT_MIGRATION_SESSION = 'pilot-migration';

/** pilot: the operator's own services (config pilots:), one session per pool (and one for migrations); the client prober is copied in by the suite itself. */
export const needs = {
  sessions: ['pilot', PILOT_MIGRATION_SESSION],
  workloads: [],
  copyWorkloads: false,
  poolsOf: (config) => [...new Set(config.pilots.flatMap((p) => p.pools))],
} as const satisfies SuiteNeeds;
