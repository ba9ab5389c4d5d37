import { BASIC } from './basic.ts';
import { FILES } from './files.ts';
import { IPC } from './ipc.ts';
import { PROCESSES } from './processes.ts';
import { SOCKETS } from './sockets.ts';
import { TIME_EVENTS } from './time-events.ts';
import type { WorkloadClass } from './types.ts';

export * from './types.ts';

/** Every workload class, group by group (each group's rows live in its own file). */
export const CATALOGUE: readonly WorkloadClass[] = [...BASIC, ...SOCKETS, ...IPC, ...FILES, ...TIME_EVENTS, ...PROCESSES];

const BY_NAME = new Map(CATALOGUE.map((c) => [c.name, c]));

/** The class of this name; throws for a name the catalogue lacks (the config schema keeps those out). */
export function workloadClassOf(name: string): WorkloadClass {
  const c = BY_NAME.get(name);
  if (!c) throw new Error(`no workload class "${name}" in the catalogue (src/config/catalogue/)`);
  return c;
}

/** The fixture a workload runs (fixtures/workloads/NAME.c): its class's, or its own name (self-test fixtures). */
export function fixtureOf(name: string): string {
  return BY_NAME.get(name)?.fixture ?? name;
}

/** Names of the classes that match, in catalogue order. */
export function classNames(pick: (c: WorkloadClass) => boolean = () => true): string[] {
  return CATALOGUE.filter(pick).map((c) => c.name);
}
