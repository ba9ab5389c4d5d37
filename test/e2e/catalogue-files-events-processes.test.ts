/**
 * The workload catalogue's files, time-events and processes classes, for
 * real: CRIU 4.1.1 of Debian trixie's node image on this machine's kernel
 * dumps and restores each one and each fixture checks its own state. What
 * may differ by machine is decided from what is probed here (CAP_SYS_RESOURCE
 * in our effective set, how many CPUs we may use); the classes that show a
 * CRIU gap must FAIL with their diagnosis, never PASS, never ERROR.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { CATALOGUE } from '../../src/config/catalogue/index.ts';
import type { Cell, RunResults } from '../../src/results/schema.ts';
import { runClassesOnHost, harnessProcesses, tempDir } from './harness.ts';

const out = tempDir('criu-compat-cat-b-');
const CLASSES = CATALOGUE.filter((c) => c.group === 'files' || c.group === 'time-events' || c.group === 'processes');
const status = readFileSync('/proc/self/status', 'utf8');
const hasSysResource = ((BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)![1]}`) >> 24n) & 1n) === 1n;
const cpusAllowed = /^Cpus_allowed_list:\s*(.+)$/m
  .exec(status)![1]!
  .split(',')
  .reduce((n, r) => n + (r.includes('-') ? Number(r.split('-')[1]) - Number(r.split('-')[0]) + 1 : 1), 0);
/** Opt-in classes that show a CRIU gap, and the diagnosis their FAIL must carry. */
const GAPS: Record<string, string> = {
  'timerfd-pending': 'timerfd-pending-disarmed',
  'eventfd-semaphore': 'eventfd-semaphore-lost',
  ...(cpusAllowed > 1 ? { 'thread-affinity': 'cpu-affinity-not-restored' } : {}),
};
let results: RunResults;
let exitCode: number | undefined;

let cell: (check: string) => Cell;

beforeAll(async () => {
  ({ results, exitCode, cell } = await runClassesOnHost(out, 'cat-b', CLASSES.map((c) => c.name)));
}, 300_000);

describe('files, time-events and processes classes on debian-trixie, host kernel', () => {
  test('one cell per class, none an ERROR', () => {
    expect(results.cells.filter((c) => c.suite === 'round-trip').map((c) => c.check)).toEqual(CLASSES.map((c) => c.name));
    expect(results.cells.filter((c) => c.status === 'ERROR').map((c) => `${c.check}: ${c.reason}`)).toEqual([]);
  });

  test('each class PASSes on its own verification, with its CRIU options on the command lines that take them', () => {
    for (const k of CLASSES.filter((x) => !GAPS[x.name] && x.name !== 'caps-and-creds')) {
      const c = cell(k.name);
      expect(c.status, `${k.name}: ${c.reason}`).toBe('PASS');
      expect(c.workloadOutput, k.name).toContain('PASS');
    }
    const [dump, restore] = cell('deleted-file').commands;
    expect(dump).toMatch(/^criu dump .*--link-remap/);
    expect(restore).toMatch(/^criu restore /);
    expect(restore).not.toMatch(/--link-remap/);
    for (const line of cell('file-lock').commands) expect(line).toMatch(/--file-locks/);
  });

  test("another user's process: PASS where criu has CAP_SYS_RESOURCE, else SKIP naming it (probed, not assumed)", () => {
    const c = cell('caps-and-creds');
    if (hasSysResource) expect(c.status, c.reason).toBe('PASS');
    else expect(c).toMatchObject({ status: 'SKIP', reason: expect.stringMatching(/^capability missing: CAP_SYS_RESOURCE \(/) });
  });

  test('the CRIU-gap classes FAIL with their diagnosis', () => {
    for (const [name, id] of Object.entries(GAPS)) {
      const c = cell(name);
      expect(c.status, `${name}: ${c.reason}`).toBe('FAIL');
      expect(c.diagnoses.map((d) => d.id), name).toContain(id);
    }
  });

  test('exit code 1 and nothing left behind', () => {
    expect(exitCode).toBe(1);
    expect(harnessProcesses().filter((p) => /criu|cc-ns/.test(p))).toEqual([]);
  });
});
