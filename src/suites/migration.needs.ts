import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of a pool's node in migrations (source or destination, the same node for both). */
export const MIGRATION_SESSION = 'migration';

/** migration: one node per pool that dumps and restores; the suite copies its own workloads into a directory at the same path on every node. */
export const needs = {
  sessions: [MIGRATION_SESSION],
  workloads: [],
  copyWorkloads: false,
} as const satisfies SuiteNeeds;
