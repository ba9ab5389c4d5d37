import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EnvironmentError } from '../errors.ts';
import { poll, waitUntil } from './wait-until.ts';

test('waitUntil returns the first value the condition gives, checking every intervalMs', async () => {
  let checks = 0;
  const started = performance.now();
  const v = await waitUntil(() => (++checks === 4 ? 'ready' : undefined), { intervalMs: 20, timeoutMs: 5000, timeout: () => new Error('late') });
  expect(v).toBe('ready');
  expect(checks).toBe(4);
  expect(performance.now() - started).toBeGreaterThanOrEqual(55);
});

test('waitUntil: falsy values other than undefined are answers (0, false, "")', async () => {
  expect(await waitUntil(() => 0, { intervalMs: 1, timeoutMs: 100, timeout: () => new Error('late') })).toBe(0);
  expect(await waitUntil(() => false, { intervalMs: 1, timeoutMs: 100, timeout: () => new Error('late') })).toBe(false);
});

test('waitUntil throws the timeout error at the deadline, made after the last check, and checks no more', async () => {
  let checks = 0;
  let atTimeout = -1;
  const started = performance.now();
  const p = waitUntil(
    async () => {
      checks++;
      return undefined;
    },
    {
      intervalMs: 10,
      timeoutMs: 120,
      timeout: async () => {
        atTimeout = checks;
        return new EnvironmentError(`no answer within 120 ms after ${checks} checks`);
      },
    },
  );
  await expect(p).rejects.toThrow(EnvironmentError);
  await expect(p).rejects.toThrow(/^no answer within 120 ms after \d+ checks$/);
  const took = performance.now() - started;
  expect(took).toBeGreaterThanOrEqual(115);
  expect(took).toBeLessThan(1000);
  expect(atTimeout).toBe(checks);
  expect(checks).toBeGreaterThan(3);
  await new Promise((r) => setTimeout(r, 50));
  expect(checks).toBe(atTimeout);
});

test('the condition is checked once even with no time at all; poll answers undefined at the deadline', async () => {
  let checks = 0;
  expect(await poll(() => void checks++, { intervalMs: 10, timeoutMs: 0 })).toBeUndefined();
  expect(checks).toBe(1);
});

test('an error thrown by the condition ends the wait with that error at once', async () => {
  let checks = 0;
  const boom = new Error('socket refused');
  const p = waitUntil(
    () => {
      if (++checks === 2) throw boom;
      return undefined;
    },
    { intervalMs: 5, timeoutMs: 5000, timeout: () => new Error('late') },
  );
  await expect(p).rejects.toBe(boom);
  expect(checks).toBe(2);
});

test('an abort ends a pause at once: the signal reason, or abortError() when given', async () => {
  const ac = new AbortController();
  let checks = 0;
  const started = performance.now();
  const p = poll(() => void checks++, { intervalMs: 60_000, timeoutMs: 120_000, signal: ac.signal, abortError: () => new EnvironmentError('vm1/cc.0: cancelled') });
  setTimeout(() => ac.abort(), 30);
  await expect(p).rejects.toThrow('vm1/cc.0: cancelled');
  expect(performance.now() - started).toBeLessThan(1000);
  expect(checks).toBe(1);

  const reason = new Error('stopped by the test');
  const before = AbortSignal.abort(reason);
  let ran = false;
  await expect(waitUntil(() => (ran = true), { intervalMs: 1, timeoutMs: 100, signal: before, timeout: () => new Error('late') })).rejects.toBe(reason);
  expect(ran).toBe(false);
});

test('a pending wait does not keep the process alive (unref), unless asked to (ref)', () => {
  const mod = fileURLToPath(new URL('./wait-until.ts', import.meta.url));
  const script = (ref: boolean) =>
    `import { poll } from ${JSON.stringify(mod)}; const t = Date.now(); process.on('exit', () => console.log('exit after', Date.now() - t)); poll(() => undefined, { intervalMs: 1500, timeoutMs: 3000, ref: ${ref} });`;
  const run = (ref: boolean) => spawnSync(process.execPath, ['--input-type=module', '-e', script(ref)], { encoding: 'utf8', timeout: 20_000 });
  const loose = run(false);
  expect(loose.status).toBe(0);
  expect(Number(/exit after (\d+)/.exec(loose.stdout)?.[1])).toBeLessThan(1000);
  const held = run(true);
  expect(held.status).toBe(0);
  expect(Number(/exit after (\d+)/.exec(held.stdout)?.[1])).toBeGreaterThanOrEqual(2900);
});
