import type { Config, SUITES } from '../config/schema.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { needs as criuCheck } from './criu-check.needs.ts';
import { needs as roundTrip } from './round-trip.needs.ts';
import { needs as runtime } from './runtime.needs.ts';
import { needs as migration } from './migration.needs.ts';
import { needs as pilot } from './pilot.needs.ts';
import { needs as cri } from './cri.needs.ts';
import { needs as security } from './security.needs.ts';
import type { SuiteNeeds } from './suite-needs.ts';

/** Each suite's declared needs; adding a suite is its vitest file, its declaration and a line here. */
const NEEDS: Record<(typeof SUITES)[number], SuiteNeeds> = {
  'criu-check': criuCheck,
  'round-trip': roundTrip,
  runtime,
  cri,
  migration,
  pilot,
  security,
};

export function needsOfSuite(suite: string): SuiteNeeds {
  const n = (NEEDS as Record<string, SuiteNeeds | undefined>)[suite];
  if (!n) throw new Error(`no declaration of what suite "${suite}" needs (src/suites/registry.ts)`);
  return n;
}

/** The sessions every pool must offer for these suites, in suite order. */
export function sessionsFor(suites: readonly string[]): string[] {
  return [...new Set(suites.flatMap((s) => needsOfSuite(s).sessions))];
}

/** Which of these suites run on POOL (a suite with SuiteNeeds.poolsOf only on the pools it names). */
export function suitesOfPool(suites: readonly string[], config: Pick<Config, 'pilots'>, pool: string): string[] {
  return suites.filter((s) => needsOfSuite(s).poolsOf?.(config).includes(pool) ?? true);
}

/** A pool as networkFor sees it: its backend, and its node image's rootfs (built) or debootstrap packages (not yet). */
export interface NetworkPool {
  backend: string;
  rootfs?: string | undefined;
  packages?: readonly string[] | undefined;
}

/** Whether any of these suites needs the run's node network (SuiteNeeds.network) with these pools. */
export function networkFor(suites: readonly string[], pools: readonly NetworkPool[]): boolean {
  return suites.some((s) => {
    const n = needsOfSuite(s).network;
    if (typeof n !== 'object') return n === true;
    const { file, package: pkg } = n.nodesWith;
    // An image neither built nor debootstrapped (a tarball) may have it: yes.
    return pools.some((p) => (p.rootfs ? existsSync(join(p.rootfs, file)) : p.packages ? p.packages.includes(pkg) : true));
  });
}

/** The workloads to compile for a run: settings.workloads and what the suites run on their own. */
export function workloadsFor(settings: { workloads: readonly string[]; suites: readonly string[] }, migrations: readonly { workloads: readonly string[] }[] = []): string[] {
  return [...new Set([...settings.workloads, ...settings.suites.flatMap((s) => needsOfSuite(s).workloads), ...migrations.flatMap((g) => g.workloads)])];
}
