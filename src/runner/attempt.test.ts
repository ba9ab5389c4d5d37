/**
 * The attempt skeleton both paths share (a process CRIU dumps, a container
 * its runtime checkpoints): which steps run in which mode, what ends an
 * attempt early, and what a cell gets from each ending. The subject here is
 * a script; the real subjects run in test/e2e (metrics, runtimes).
 */
import { describe, expect, test } from 'vitest';
import type { Diagnosis } from '../criu/diagnose.ts';
import { runAttempt, type AttemptMode, type Ending, type StepRun, type Subject } from './attempt.ts';

const t = { readyMs: 1000, verifyMs: 2000, criuMs: 3000, commandMs: 4000, environmentMs: 5000 } as Parameters<typeof runAttempt>[1];
const run = (ok: boolean, durationMs: number, diagnoses: Diagnosis[] = []): StepRun => ({ ok, result: { durationMs }, diagnoses, excerpt: ok ? [] : ['Error (x): it broke'] });

function scripted(mode: AttemptMode, over: Partial<Subject> = {}) {
  const calls: string[] = [];
  const did = <T>(name: string, v: T) => async () => (calls.push(name), v);
  const s: Subject = {
    mode,
    verifier: 'restored thing',
    verdictShowsLastRun: true,
    gate: did('gate', undefined),
    start: did('start', run(true, 5)),
    ready: did('ready', { ok: true, alive: true }),
    notReady: (alive) => `not ready (alive ${alive})`,
    preDump: did('preDump', run(true, 7)),
    beforeDump: did('beforeDump', undefined),
    dump: did('dump', run(true, 11, [{ id: 'note-only' } as Diagnosis])),
    afterDump: did('afterDump', undefined),
    restore: did('restore', run(true, 13)),
    afterRestore: did('afterRestore', undefined),
    verdict: did('verdict', { status: 'PASS' as const }),
    passed: did('passed', { note: 'archive 1 MB' }),
    failure: (step) => `${step} failed`,
    collect: async (e: Ending) => (calls.push('collect'), { metrics: { imageBytes: 1, ...e.metrics }, output: ['ready'], commands: ['c1'] }),
    ...over,
  };
  return { s, calls };
}

describe('the steps of each mode', () => {
  test.for([
    ['run', 'gate start ready verdict passed collect'],
    ['dump', 'gate start ready beforeDump dump afterDump restore afterRestore verdict passed collect'],
    ['pre-dump', 'gate start ready preDump beforeDump dump afterDump restore afterRestore verdict passed collect'],
    ['leave-running', 'gate start ready beforeDump dump afterDump verdict passed collect'],
    ['migrate', 'gate start ready beforeDump dump afterDump restore afterRestore verdict passed collect'],
  ] as const)('%s', async ([mode, steps]) => {
    const { s, calls } = scripted(mode);
    const a = await runAttempt(s, t);
    expect(calls.join(' ')).toBe(steps);
    expect(a).toMatchObject({ status: 'PASS', reason: 'restored thing verified its own state (archive 1 MB)', commands: ['c1'], workloadOutput: ['ready'], metrics: { imageBytes: 1 } });
    expect(Object.keys(a.durations).sort()).toEqual(
      ['totalMs', 'startMs', 'verifyMs', ...(mode === 'run' ? [] : ['dumpMs']), ...(mode === 'pre-dump' ? ['preDumpMs'] : []), ...(mode === 'run' || mode === 'leave-running' ? [] : ['restoreMs'])].sort(),
    );
  });
});

describe('endings', () => {
  test('a gate ends the attempt before anything starts, and what it left is still collected', async () => {
    const { s, calls } = scripted('pre-dump', { gate: async () => ({ status: 'SKIP', reason: 'capability missing: x' }) });
    expect(await runAttempt(s, t)).toMatchObject({ status: 'SKIP', reason: 'capability missing: x', durations: { totalMs: expect.any(Number) } });
    expect(calls).toEqual(['collect']);
  });

  test('a failed step: FAIL with its one line and its log, ERROR when the environment is to blame', async () => {
    const broken = run(false, 9);
    const a = await runAttempt(scripted('dump', { dump: async () => broken }).s, t);
    expect(a).toMatchObject({ status: 'FAIL', reason: 'dump failed', logExcerpt: ['Error (x): it broke'], durations: { dumpMs: 9 } });
    expect(a.durations.restoreMs).toBeUndefined();
    const env = await runAttempt(scripted('dump', { restore: async () => run(false, 2, [{ id: 'e', blame: 'environment' } as Diagnosis]) }).s, t);
    expect(env).toMatchObject({ status: 'ERROR', reason: 'restore failed' });
    const start = await runAttempt(scripted('run', { start: async () => run(false, 3) }).s, t);
    expect(start).toMatchObject({ status: 'FAIL', reason: 'start failed', durations: { startMs: 3 } });
  });

  test('not ready is the harness\'s ERROR; a subject without a start run records no startMs', async () => {
    const a = await runAttempt(scripted('dump', { start: async () => undefined, ready: async () => ({ ok: false, alive: false }) }).s, t);
    expect(a).toMatchObject({ status: 'ERROR', reason: 'not ready (alive false)' });
    expect(a.durations.startMs).toBeUndefined();
  });

  test('the verdict carries the last command\'s diagnoses only when the subject says so', async () => {
    const lr = scripted('leave-running', { verdict: async () => ({ status: 'FAIL' as const, message: 'byte 7 changed' }) });
    expect(await runAttempt(lr.s, t)).toMatchObject({ status: 'FAIL', reason: 'restored thing: byte 7 changed', diagnoses: [{ id: 'note-only' }] });
    const quiet = scripted('leave-running', { verdictShowsLastRun: false, verdict: async () => ({ status: 'NONE' as const, alive: true }) });
    expect(await runAttempt(quiet.s, t)).toMatchObject({ status: 'FAIL', reason: 'restored thing gave no verdict within 2000 ms', diagnoses: [] });
  });

  test("a FAIL line naming state CRIU does not keep is diagnosed first, before the last command's notes", async () => {
    const msg = 'after restore: read 1 gave 5, expected 1: the eventfd is no longer in semaphore mode (EFD_SEMAPHORE lost)';
    const lr = scripted('leave-running', { verdict: async () => ({ status: 'FAIL' as const, message: msg }) });
    const a = await runAttempt(lr.s, t);
    expect(a).toMatchObject({ status: 'FAIL', reason: `restored thing: ${msg}` });
    expect(a.diagnoses.map((d) => d.id)).toEqual(['eventfd-semaphore-lost', 'note-only']);
  });

  test('an ending after the dump (the tree still runs) stops before restore', async () => {
    const { s, calls } = scripted('dump', { afterDump: async (d) => ({ status: 'FAIL', reason: 'still running', run: d }) });
    expect(await runAttempt(s, t)).toMatchObject({ status: 'FAIL', reason: 'still running', diagnoses: [{ id: 'note-only' }] });
    expect(calls).not.toContain('restore');
  });
});

describe('the timeline', () => {
  test('each step is marked in order, with how it ended, times never going back', async () => {
    const { s } = scripted('pre-dump');
    const a = await runAttempt(s, t);
    expect(a.timeline!.map((e) => e.event)).toEqual([
      'gate start', 'gate end', 'starting', 'started: ok', 'ready',
      'pre-dump start', 'pre-dump end: ok', 'dump start', 'dump end: ok', 'restore start', 'restore end: ok',
      'verify start', 'verify end: PASS', 'verdict PASS', 'cleanup start', 'cleanup end',
    ]);
    const at = a.timeline!.map((e) => e.atMs);
    expect(at).toEqual([...at].sort((x, y) => x - y));
  });

  test('a failed dump ends the timeline there: no restore, no verify', async () => {
    const { s } = scripted('dump', { dump: async () => run(false, 3) });
    const a = await runAttempt(s, t);
    expect(a.status).toBe('FAIL');
    const events = a.timeline!.map((e) => e.event);
    expect(events).toContain('dump end: failed');
    expect(events.some((e) => e.startsWith('restore') || e.startsWith('verify'))).toBe(false);
    expect(events.slice(-3)).toEqual(['verdict FAIL', 'cleanup start', 'cleanup end']);
  });
});
