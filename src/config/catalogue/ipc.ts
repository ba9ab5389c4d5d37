import type { WorkloadClass } from './types.ts';

/** IPC and memory: FIFOs, shared memory, System V objects, memfd, file mappings, protections. */
export const IPC: WorkloadClass[] = [];
