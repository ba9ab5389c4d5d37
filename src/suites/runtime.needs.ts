import { CONTAINER_WORKLOADS } from '../config/schema.ts';
import type { SuiteNeeds } from './suite-needs.ts';

/** The session name of the runtime suite's second node of a pool (the destination of a podman export). */
export const PEER_SESSION = 'runtime-peer';

/** The session of the runtime suite where a podman remedy runs (podman keeps one store per node). */
export const REMEDY_SESSION = 'runtime-remedy';

/** runtime: its container workloads, a session for the node, one for a second node (export/import) and one for podman's remedy re-runs. */
export const needs = {
  sessions: ['runtime', PEER_SESSION, REMEDY_SESSION],
  workloads: CONTAINER_WORKLOADS,
  copyWorkloads: true,
} as const satisfies SuiteNeeds;
