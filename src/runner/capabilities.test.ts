/**
 * Capability probes a workload class declares: a privilege is read from the
 * effective set of a process the environment starts (as it starts criu);
 * missing → SKIP naming it, unreadable → ERROR, never assumed.
 */
import { expect, test } from 'vitest';
import type { Capability } from '../config/catalogue/index.ts';
import { Criu } from '../criu/driver.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import { capEffOf, missingCapability } from './capabilities.ts';

const status = (eff: string) => `Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t${eff}\nCapEff:\t${eff}\nCapBnd:\t${eff}\n`;

function envWith(result: Partial<ExecResult>): Environment {
  const exec = async (): Promise<ExecResult> => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, durationMs: 1, ...result });
  const nope = () => Promise.reject(new Error('not used'));
  return { id: 'fake', backend: 'host', workDir: '/nonexistent', exec, spawnDetached: nope, isRunning: nope, copyIn: nope, copyOut: nope, writeFile: nope, readFile: nope, du: nope, makeDir: nope, remove: nope, dispose: async () => {} };
}

const sysResource: Capability = { kind: 'privilege', name: 'CAP_SYS_RESOURCE', bit: 24, why: 'reading rlimits of another user' };
const ask = (env: Environment) => missingCapability([sysResource], { env, criu: new Criu(env, {}, 1000), commandMs: 1000 });

test('CapEff parsed from /proc/self/status', () => {
  expect(capEffOf(status('000001fffeffffff'))).toBe(0x1fffeffffffn);
  expect(capEffOf('Name: x\n')).toBeUndefined();
});

test('a privilege present in the effective set lets the cell run', async () => {
  expect(await ask(envWith({ stdout: status('000001ffffffffff') }))).toBeUndefined();
});

test("a privilege this machine withholds (root without CAP_SYS_RESOURCE, as here) is a SKIP naming it", async () => {
  const e = await ask(envWith({ stdout: status('000001fffeffffff') }));
  expect(e).toMatchObject({ status: 'SKIP' });
  expect(e!.reason).toMatch(/^capability missing: CAP_SYS_RESOURCE \(reading rlimits of another user\): .*CapEff 1fffeffffff/);
});

test('an unreadable status decides nothing: ERROR, not SKIP', async () => {
  expect(await ask(envWith({ exitCode: 1, stderr: 'cat: not found' }))).toMatchObject({ status: 'ERROR' });
  expect(await ask(envWith({ stdout: 'garbage' }))).toMatchObject({ status: 'ERROR' });
});
