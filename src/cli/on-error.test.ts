import { parseArgs } from 'node:util';
import { expect, test } from 'vitest';
import { ConfigError, EnvironmentError, InterruptedError, PrerequisiteError, UsageError } from '../errors.ts';
import { onError } from './on-error.ts';

test('the exit status comes from the code: bad input 2 on one line, prerequisites keep their lines, interrupted 130', () => {
  expect(onError(new ConfigError('c.yaml', 'settings', 'an object\x1b[31m'))).toEqual({ exit: 2, text: 'criu-compat: c.yaml: at settings: an object\\x1b[31m' });
  expect(onError(new UsageError('unknown command "x"\nsecond'))).toEqual({ exit: 2, text: 'criu-compat: unknown command "x"\\x0asecond' });
  expect(onError(new PrerequisiteError('missing:\n  qemu\nrun: apt-get install qemu-system-x86'))).toEqual({ exit: 2, text: 'criu-compat: missing:\n  qemu\nrun: apt-get install qemu-system-x86' });
  expect(onError(new InterruptedError('stopped (interrupted) while building image x'))).toEqual({ exit: 130, text: 'criu-compat: stopped (interrupted) while building image x' });
});

test("parseArgs' own errors are usage errors with a pointer to --help", () => {
  let thrown: unknown;
  try {
    parseArgs({ args: ['--nope'], options: {}, strict: true });
  } catch (e) {
    thrown = e;
  }
  expect(onError(thrown)).toEqual({ exit: 2, text: `criu-compat: ${(thrown as Error).message} (see --help)` });
});

test('an image, kernel, build or environment failure is one line, exit 2, credentials redacted (not an internal error)', () => {
  const r = onError(new EnvironmentError('env y: broke at http://user:secret@mirror.example.invalid/debian'));
  expect(r).toEqual({ exit: 2, text: 'criu-compat: env y: broke at http://***@mirror.example.invalid/debian' });
});

test('any other error is an internal one: exit 2 with its stack, credentials redacted', () => {
  const r = onError(new TypeError('y: broke at http://user:secret@mirror.example.invalid/debian'));
  expect(r.exit).toBe(2);
  expect(r.text).toMatch(/^criu-compat: internal error: TypeError: y: broke at http:\/\/\S*mirror\.example\.invalid\/debian\n\s+at /);
  expect(r.text).not.toContain('secret');
  expect(onError(Object.assign(new Error('x'), { code: 'ENOENT' })).text).toMatch(/^criu-compat: internal error: Error: x\n/);
  expect(onError('a string')).toEqual({ exit: 2, text: 'criu-compat: internal error: a string' });
});
