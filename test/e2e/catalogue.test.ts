/**
 * The workload catalogue's socket and IPC classes, for real: CRIU 4.1.1 of
 * Debian trixie's node image on this machine's kernel dumps and restores each
 * one, and each fixture checks its own state. The verdicts follow from what
 * is probed here (the kernel release), and the classes that show a known CRIU
 * limitation must FAIL saying what differs, never PASS, never ERROR.
 */
import { existsSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import semver from 'semver';
import { beforeAll, describe, expect, test } from 'vitest';
import { CATALOGUE } from '../../src/config/catalogue/index.ts';
import type { Cell, RunResults } from '../../src/results/schema.ts';
import { runClassesOnHost, harnessProcesses, strayMounts, tempDir } from './harness.ts';

const out = tempDir('criu-compat-cat-');
const CLASSES = CATALOGUE.filter((c) => c.group === 'sockets' || c.group === 'ipc');
const INET = new Set(CLASSES.filter((c) => /^(tcp|udp)/.test(c.name)).map((c) => c.name));
/** Opt-in classes that show a CRIU limitation here, and the line their FAIL must carry. */
const LIMITS: Record<string, RegExp> = {
  'udp-queue': /queued B->A datagram 0: missing/,
  'sysv-sem-undo': /SEM_UNDO must bring semaphore 2 back to 7\): semaphore 2 is 6/,
  'memfd-sealed-map': /criu restore failed .*Cannot apply seals on memfd/,
};
const kernel616 = semver.gte(semver.coerce(release())!, '6.16.0');
let results: RunResults;
let exitCode: number | undefined;

let cell: (check: string) => Cell;

beforeAll(async () => {
  ({ results, exitCode, cell } = await runClassesOnHost(out, 'cat', CLASSES.map((c) => c.name)));
}, 300_000);

describe('socket and IPC classes on debian-trixie, host kernel', () => {
  test('one cell per class, none an ERROR', () => {
    expect(results.cells.filter((c) => c.suite === 'round-trip').map((c) => c.check)).toEqual(CLASSES.map((c) => c.name));
    expect(results.cells.filter((c) => c.status === 'ERROR').map((c) => `${c.check}: ${c.reason}`)).toEqual([]);
  });

  test('each class PASSes on its own verification, with its CRIU options on the command line', () => {
    for (const k of CLASSES.filter((x) => !LIMITS[x.name] && !(kernel616 && INET.has(x.name)))) {
      const c = cell(k.name);
      expect(c.status, `${k.name}: ${c.reason}`).toBe('PASS');
      expect(c.workloadOutput![0], k.name).toBe('ready');
      expect(c.workloadOutput, k.name).toContain('PASS');
    }
    for (const k of CLASSES.filter((x) => x.criu.includes('tcpEstablished'))) {
      const cmds = cell(k.name).commands;
      expect(cmds.some((x) => /^criu dump .*--tcp-established/.test(x)), k.name).toBe(true);
      for (const r of cmds.filter((x) => /^criu restore /.test(x))) expect(r, k.name).toMatch(/--tcp-established/);
    }
  });

  test('TCP/UDP classes on kernels >= 6.16: the diagnosed SO_PASSCRED failure of CRIU 4.1.1, the peer outside the tree up and verified', () => {
    if (!kernel616) return;
    for (const name of INET) {
      const c = cell(name);
      expect(c.status, name).toBe('FAIL');
      expect(c.diagnoses.map((d) => d.id), name).toContain('sockopt-passcred');
    }
    expect(cell('tcp-external').workloadOutput).toContain('peer: ready');
  });

  test('the limitation classes FAIL with what differs', () => {
    for (const [name, why] of Object.entries(LIMITS)) {
      const c = cell(name);
      expect(c.status, `${name}: ${c.reason}`).toBe('FAIL');
      if (!(kernel616 && INET.has(name))) expect(c.reason, name).toMatch(why);
    }
  });

  test('exit code 1 and nothing left behind: processes, mounts, shared memory objects', () => {
    expect(exitCode).toBe(1);
    expect(harnessProcesses().filter((p) => /criu|cc-ns/.test(p))).toEqual([]);
    expect(strayMounts()).toEqual([]);
    expect(existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('cc-compat-')) : []).toEqual([]);
  });
});
