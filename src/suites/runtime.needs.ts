import { CONTAINER_WORKLOADS } from '../config/schema.ts';
import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of the runtime suite's second node of a pool (the destination of a podman export). */
export const PEER_SESSION = 'runtime-peer';

/** runtime: its container workloads, a session for the node and one for a second node (export/import). */
export const needs = {
  sessions: ['runtime', PEER_SESSION],
  workloads: CONTAINER_WORKLOADS,
  copyWorkloads: true,
} as const satisfies SuiteNeeds;
