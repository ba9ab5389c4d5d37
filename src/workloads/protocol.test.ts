/**
 * Workload.waitGone: a dumped workload is gone only once its PID is free
 * again. A zombie the environment's init has not reaped yet still holds it
 * (a restore then fails with "Can't fork for N: File exists").
 */
import { expect, test } from 'vitest';
import type { Environment } from '../environments/environment.ts';
import { Workload } from './protocol.ts';

function env(state: { running: boolean; inUsePolls: number }, withPidInUse: boolean): Environment {
  const nope = () => Promise.reject(new Error('not used'));
  const e: Environment = {
    id: 'fake', backend: 'host', workDir: '/nonexistent', exec: nope, spawnDetached: nope, copyIn: nope, copyOut: nope, writeFile: nope, readFile: nope, du: nope, makeDir: nope, remove: nope, dispose: async () => {},
    isRunning: async () => state.running,
  };
  if (withPidInUse) e.pidInUse = async () => state.inUsePolls-- > 0;
  return e;
}

test('a zombie not yet reaped is not gone: waitGone waits for its PID to be free', async () => {
  const s = { running: false, inUsePolls: 3 };
  const w = new Workload(env(s, true), 'x', '/bin/x', '/o');
  expect(await w.waitGone(1000)).toBe(true);
  expect(s.inUsePolls).toBe(-1);
});

test('a PID that stays taken times out as not gone; a running process is never gone', async () => {
  expect(await new Workload(env({ running: false, inUsePolls: 1e9 }, true), 'x', '/bin/x', '/o').waitGone(50)).toBe(false);
  expect(await new Workload(env({ running: true, inUsePolls: 0 }, true), 'x', '/bin/x', '/o').waitGone(50)).toBe(false);
});

test('an environment that cannot tell: not running is gone', async () => {
  expect(await new Workload(env({ running: false, inUsePolls: 1e9 }, false), 'x', '/bin/x', '/o').waitGone(50)).toBe(true);
});
