import { expect, test } from 'vitest';
import type { Capability } from '../config/catalogue/index.ts';
import type { Criu } from '../criu/driver.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import type { Status } from '../results/schema.ts';
import { capEffOf, missingCapability } from './capabilities.ts';

/** A driver whose `criu check --feature` answers from a table, counting the probes. */
function fakeCriu(answers: Record<string, Status>) {
  const asked: string[] = [];
  const criu = {
    async checkFeature(name: string) {
      asked.push(name);
      const status = answers[name] ?? 'ERROR';
      return { status, reason: `${name}: ${status}`, run: { ok: status === 'PASS', result: { durationMs: 1 }, diagnoses: [], excerpt: [] } };
    },
  } as unknown as Criu;
  return { criu, asked };
}

const env = (exists: Record<string, number>) =>
  ({ exec: async (argv: readonly string[]): Promise<ExecResult> => ({ exitCode: exists[argv[2]!] ?? 1, stdout: '', stderr: '', timedOut: false, durationMs: 1 }) }) as unknown as Environment;

const feature = (name: string): Capability => ({ kind: 'criu-feature', name, why: `for ${name}` });

test('a missing CRIU feature makes the cell SKIP naming it; a present one lets it run; answers are kept per driver', async () => {
  const { criu, asked } = fakeCriu({ memfd_hugetlb: 'SKIP', timens: 'PASS' });
  const x = { env: env({}), criu, commandMs: 1000 };
  expect(await missingCapability([feature('timens')], x)).toBeUndefined();
  expect(await missingCapability([feature('timens'), feature('memfd_hugetlb')], x)).toMatchObject({ status: 'SKIP', reason: 'capability missing: memfd_hugetlb (for memfd_hugetlb)' });
  expect(await missingCapability([feature('memfd_hugetlb')], x)).toMatchObject({ status: 'SKIP' });
  expect(asked).toEqual(['timens', 'memfd_hugetlb']);
});

test('a probe that decided nothing is ERROR (never SKIP, never PASS) and is asked again next time', async () => {
  const { criu, asked } = fakeCriu({});
  const x = { env: env({}), criu, commandMs: 1000 };
  expect(await missingCapability([feature('no_such')], x)).toMatchObject({ status: 'ERROR', reason: expect.stringContaining('decided nothing') });
  await missingCapability([feature('no_such')], x);
  expect(asked).toEqual(['no_such', 'no_such']);
});

test('a kernel path: present → runs, absent → SKIP naming the path, a broken probe → ERROR', async () => {
  const { criu } = fakeCriu({});
  const cap = (path: string): Capability => ({ kind: 'kernel-path', name: 'time namespaces', path, why: 'CLOCK_MONOTONIC offsets' });
  const x = { env: env({ '/proc/self/ns/time': 0, '/broken': 2 }), criu, commandMs: 1000 };
  expect(await missingCapability([cap('/proc/self/ns/time')], x)).toBeUndefined();
  expect(await missingCapability([cap('/nope')], x)).toMatchObject({ status: 'SKIP', reason: 'capability missing: time namespaces (CLOCK_MONOTONIC offsets): /nope does not exist here' });
  expect(await missingCapability([cap('/broken')], x)).toMatchObject({ status: 'ERROR' });
});

// A privilege: read from the effective set of a process the environment starts (as it starts criu).
const status = (eff: string) => `Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t${eff}\nCapEff:\t${eff}\nCapBnd:\t${eff}\n`;
const statusEnv = (result: Partial<ExecResult>) =>
  ({ exec: async (): Promise<ExecResult> => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, durationMs: 1, ...result }) }) as unknown as Environment;
const sysResource: Capability = { kind: 'privilege', name: 'CAP_SYS_RESOURCE', bit: 24, why: 'reading rlimits of another user' };
const ask = (e: Environment) => missingCapability([sysResource], { env: e, criu: fakeCriu({}).criu, commandMs: 1000 });

test('CapEff parsed from /proc/self/status', () => {
  expect(capEffOf(status('000001fffeffffff'))).toBe(0x1fffeffffffn);
  expect(capEffOf('Name: x\n')).toBeUndefined();
});

test('a privilege present in the effective set lets the cell run', async () => {
  expect(await ask(statusEnv({ stdout: status('000001ffffffffff') }))).toBeUndefined();
});

test('a privilege this machine withholds (root without CAP_SYS_RESOURCE, as here) is a SKIP naming it', async () => {
  const e = await ask(statusEnv({ stdout: status('000001fffeffffff') }));
  expect(e).toMatchObject({ status: 'SKIP' });
  expect(e!.reason).toMatch(/^capability missing: CAP_SYS_RESOURCE \(reading rlimits of another user\): .*CapEff 1fffeffffff/);
});

test('an unreadable status decides nothing: ERROR, not SKIP', async () => {
  expect(await ask(statusEnv({ exitCode: 1, stderr: 'cat: not found' }))).toMatchObject({ status: 'ERROR' });
  expect(await ask(statusEnv({ stdout: 'garbage' }))).toMatchObject({ status: 'ERROR' });
});
