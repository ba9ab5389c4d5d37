import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BootError } from './environments/qemu/qemu-machine.ts';
import { BuildError, ConfigError, EnvironmentError, errorCode, ImageError, InterruptedError, KernelError, PrerequisiteError, UsageError } from './errors.ts';
import { readRun } from './report/write.ts';

test('every named error carries its stable code, subclasses their parent\'s, and keeps the error it wraps as its cause', () => {
  const cause = Object.assign(new Error('connect ENOENT /run/engine.sock'), { code: 'ENOENT' });
  const cases: [Error, string][] = [
    [new ConfigError('pools.yaml', 'pools[0].kernel', 'a kernel spec', 3, { cause }), 'CONFIG'],
    [new UsageError('--jobs takes a whole number', { cause }), 'USAGE'],
    [new PrerequisiteError('missing: qemu'), 'PREREQUISITE'],
    [new ImageError('node image x'), 'IMAGE'],
    [new EnvironmentError('env y', { cause }), 'ENVIRONMENT'],
    [new BootError('vm1: QEMU exited', []), 'ENVIRONMENT'],
    [new BuildError('cc-ns'), 'BUILD'],
    [new KernelError('kernel z'), 'KERNEL'],
    [new InterruptedError('stopped'), 'INTERRUPTED'],
  ];
  for (const [e, code] of cases) expect(errorCode(e), e.name).toBe(code);
  expect(cases[0]![0].message).toBe('pools.yaml: at pools[0].kernel (line 3): a kernel spec');
  expect(cases[0]![0].cause).toBe(cause);
  expect(cases[4]![0].cause).toBe(cause);
  // A system error's code is not one of ours.
  expect(errorCode(cause)).toBeUndefined();
  expect(errorCode({ code: 'CONFIG', message: 'not an Error' })).toBeUndefined();
});

test('an error that wraps another keeps it as its cause, the message unchanged (a results.json that is missing, then not JSON)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-errors-'));
  try {
    const file = join(dir, 'results.json');
    const missing = (await readRun(file).then(() => undefined, (e: unknown) => e)) as ConfigError;
    expect(missing.message).toBe(`${file}: at (top level): a readable results.json (ENOENT)`);
    expect((missing.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    writeFileSync(file, '{"schemaVersion": 1,');
    const bad = (await readRun(file).then(() => undefined, (e: unknown) => e)) as ConfigError;
    expect(bad.cause).toBeInstanceOf(SyntaxError);
    expect(bad.message).toBe(`${file}: at (top level): valid JSON (${(bad.cause as Error).message})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
