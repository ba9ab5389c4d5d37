import type { WorkloadClass } from './types.ts';

/** Processes: sessions, zombies, per-thread state, seccomp, credentials, time namespaces. */
export const PROCESSES: WorkloadClass[] = [];
