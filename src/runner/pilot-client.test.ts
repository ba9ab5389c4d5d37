import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { clientArgv, readClientLines } from './pilot-client.ts';

/** cc-probe's own output, recorded here (fixtures/recorded/pilot-client). */
const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/pilot-client', f), 'utf8').split('\n').filter(Boolean);

describe('the client prober\'s lines', () => {
  test('held across a real checkpoint/restore (CRIU 4.2.1, --tcp-established): one connection, no error, the longest gap is the restore', () => {
    expect(readClientLines(rec('held-across-checkpoint-restore-sid-4.2.1.txt'), true)).toEqual({ probes: 15, errors: 0, maxGapMs: 251, connects: 1, heldSurvived: true, complete: true });
  });

  test('held while the service was stopped 0.5 s, then killed: the stop is a gap, the kill is errors up to the end, the connection is lost', () => {
    const r = readClientLines(rec('held-service-stopped-then-killed.txt'), true);
    expect(r).toMatchObject({ probes: 28, errors: 10, maxGapMs: 537, connects: 1, heldSurvived: false, firstError: 'connection closed by the service' });
  });

  test('fresh TCP connects: a stopped listener still accepts (no gap), a killed one refuses until the end', () => {
    const r = readClientLines(rec('tcp-service-stopped-then-killed.txt'), false);
    expect(r).toMatchObject({ probes: 19, errors: 5, maxGapMs: 539, connects: 0, firstError: 'connect: Connection refused' });
    expect(r.heldSurvived).toBeUndefined();
  });

  test('no answer at all: the gap runs from the start to the end; unknown lines are ignored', () => {
    expect(readClientLines(['100 start tcp', 'noise', '150 fail 50 connect: Connection refused', '400 fail 50 connect: timed out', '410 stop probes=2 ok=0 fail=2 connects=0'], false)).toMatchObject({ probes: 2, errors: 2, maxGapMs: 310 });
    expect(readClientLines([], true)).toMatchObject({ probes: 0, heldSurvived: false });
  });

  test('a probe still waiting when the prober stopped (the service went silent, no fail line yet): the gap runs from the last right answer to the stop', () => {
    // cc-probe counts no answer for a probe cut short by SIGTERM; the silence up to the stop is still a gap.
    const r = readClientLines(['100 start held', '101 connect 1', '150 ok 0 connection 1', '200 ok 0 connection 1', '4200 stop probes=2 ok=2 fail=0 connects=1'], true);
    expect(r).toMatchObject({ probes: 2, errors: 0, maxGapMs: 4000 });
    expect(readClientLines(['100 start tcp', '4100 stop probes=0 ok=0 fail=0 connects=0'], false)).toMatchObject({ probes: 0, maxGapMs: 4000 });
  });

  test('a prober that ended without its stop line (crashed, or killed after the stop timed out) saw only part of the stage: not complete', () => {
    expect(readClientLines(['100 start held', '101 connect 1', '150 ok 0 connection 1', '200 ok 0 connection 1'], true)).toMatchObject({ complete: false, errors: 0 });
    expect(readClientLines(rec('held-across-checkpoint-restore-sid-4.2.1.txt'), true).complete).toBe(true);
    expect(readClientLines([], false).complete).toBe(false);
  });

  test('a session program that exits when it loses its connection: each loss is a failure and a new session, so the held session did not survive', () => {
    const r = readClientLines(rec('session-program-ended.txt'), true);
    expect(r).toMatchObject({ probes: 6, errors: 3, connects: 3, heldSurvived: false, firstError: 'the client program ended: server closed the connection unexpectedly' });
  });

  test('argv: a session program as its user with its environment; its reconnecting form (spawn) starts one per probe', () => {
    const session = { command: ['psql', '-h', '127.0.0.1'], user: 'postgres', env: { PGPASSWORD: 'x' }, send: 'SELECT 1;\n', expect: '1' };
    expect(clientArgv('/p', { session, intervalMs: 200 }, 40000)).toEqual(['/p', 'run', 'session', '200', '40000', 'SELECT 1;\n', '1', 'runuser', '-u', 'postgres', '--', 'env', 'PGPASSWORD=x', 'psql', '-h', '127.0.0.1']);
    expect(clientArgv('/p', { session: { ...session, user: 'root', env: {} }, intervalMs: 200 }, 2000, true)).toEqual(['/p', 'run', 'spawn', '200', '2000', 'SELECT 1;\n', '1', 'psql', '-h', '127.0.0.1']);
  });

  test('argv: held, its reconnecting form (ask), http with body', () => {
    expect(clientArgv('/p', { held: { port: 6379, send: 'PING\r\n', expect: '+PONG' }, intervalMs: 50 }, 40000)).toEqual(['/p', 'run', 'held', '127.0.0.1', '6379', '50', '40000', 'PING\r\n', '+PONG']);
    expect(clientArgv('/p', { held: { port: 1, send: 'a', expect: 'b' }, intervalMs: 5 }, 2000, true)[2]).toBe('ask');
    expect(clientArgv('/p', { http: { port: 80, path: '/x', status: 200, body: 'hi' }, intervalMs: 20 }, 2000)).toEqual(['/p', 'run', 'http', '127.0.0.1', '80', '20', '2000', '/x', '200', 'hi']);
  });
});
