import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Pilot } from '../config/pilot-schema.ts';
import { foldAttempts } from './pilot-cell.ts';
import { pilotCriuArgs } from './pilot-criu-options.ts';
import { variantNotNeeded } from '../matrix/pilot-variants.ts';
import { pilotStages } from './pilot-run.ts';
import { readClientLines } from './pilot-client.ts';
import type { PilotAttempt } from './pilot-stage.ts';

const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/pilot-client', f), 'utf8').split('\n').filter(Boolean);

/** An attempt whose client figures come from a recorded prober output. */
function attempt(status: PilotAttempt['status'], client: string, criu: { freezeMs?: number; checkpointMs?: number; restoreMs?: number; imageBytes?: number }, reason = `${status} reason`): PilotAttempt {
  const r = readClientLines(rec(client), true);
  return {
    status,
    reason,
    figures: { ...criu, clientGapMs: r.maxGapMs, clientErrors: r.errors, clientProbes: r.probes, heldConnectionSurvived: r.heldSurvived ? 1 : 0 },
    diagnoses: [],
    logExcerpt: [],
    commands: [],
    output: [],
  };
}

const GOOD = 'held-across-checkpoint-restore-sid-4.2.1.txt';
const BROKEN = 'held-service-stopped-then-killed.txt';

describe('a stage over its attempts', () => {
  test('every attempt verified: PASS, and metrics.pilot from the recorded numbers', () => {
    const d = foldAttempts(
      [attempt('PASS', GOOD, { freezeMs: 64.3, checkpointMs: 130, restoreMs: 144, imageBytes: 3043328 }), attempt('PASS', GOOD, { freezeMs: 80, checkpointMs: 150, restoreMs: 120, imageBytes: 3000000 })],
      900,
    );
    expect(d.status).toBe('PASS');
    expect(d.reason).toBe('PASS reason in 2/2 attempts');
    expect(d.repetitions).toEqual({ attempts: 2, successes: 2, successRate: 1 });
    expect(d.metrics!.pilot).toEqual({
      attempts: 2,
      successes: 2,
      freezeMsP95: 80,
      freezeMsMax: 80,
      checkpointMsP95: 150,
      checkpointMsMax: 150,
      restoreMsP95: 144,
      restoreMsMax: 144,
      imageBytesMax: 3043328,
      clientGapMsMax: 251,
      clientErrors: 0,
      clientProbes: 30,
      heldConnectionSurvived: 1,
    });
    expect(d.distribution!['clientGapMs']).toEqual({ n: 2, p50: 251, p95: 251, max: 251 });
    expect(Object.keys(d.distribution!).sort()).toEqual(['checkpointMs', 'clientGapMs', 'freezeMs', 'restoreMs']);
  });

  test('a figure some verified attempt lacks (its prober ended early, the stats unreadable) is not measured for the cell: a max over the others would pass unseen', () => {
    const partial = attempt('PASS', GOOD, { freezeMs: 70, checkpointMs: 140, restoreMs: 130 });
    const { clientGapMs: _g, clientErrors: _e, clientProbes: _p, heldConnectionSurvived: _h, ...rest } = partial.figures;
    const d = foldAttempts([attempt('PASS', GOOD, { freezeMs: 60, checkpointMs: 130, restoreMs: 120 }), { ...partial, figures: rest }], 800);
    expect(d.status).toBe('PASS');
    const m = d.metrics!.pilot!;
    expect(m).toMatchObject({ freezeMsMax: 70, checkpointMsMax: 140, restoreMsMax: 130 });
    for (const k of ['clientGapMsMax', 'clientErrors', 'clientProbes', 'heldConnectionSurvived']) expect(m[k], k).toBeUndefined();
    // A FAIL attempt without the figures (its dump failed: nothing to measure) does not unmeasure the others.
    const failed = foldAttempts([attempt('PASS', GOOD, { freezeMs: 60 }), { ...attempt('FAIL', BROKEN, {}), figures: {} }], 800);
    expect(failed.metrics!.pilot).toMatchObject({ freezeMsMax: 60, clientGapMsMax: 251 });
  });

  test('one attempt lost its held connection: FAIL with the success rate, the first bad attempt shown, heldConnectionSurvived 0', () => {
    const d = foldAttempts([attempt('PASS', GOOD, { freezeMs: 60 }), attempt('FAIL', BROKEN, { freezeMs: 70 }, 'the held connection did not survive'), attempt('PASS', GOOD, { freezeMs: 65 })], 1000);
    expect(d.status).toBe('FAIL');
    expect(d.reason).toBe('1/3 attempts failed; first: the held connection did not survive');
    expect(d.repetitions).toEqual({ attempts: 3, successes: 2, successRate: 2 / 3 });
    expect(d.metrics!.pilot).toMatchObject({ clientGapMsMax: 537, clientErrors: 10, clientProbes: 58, heldConnectionSurvived: 0, freezeMsMax: 70 });
  });

  test('an ERROR outranks a FAIL; a stage with no checkpoint has no freeze numbers', () => {
    const d = foldAttempts([attempt('FAIL', BROKEN, {}), attempt('ERROR', GOOD, {}, 'harness broke')], 10);
    expect(d.status).toBe('ERROR');
    expect(d.reason).toBe('attempt 2/2: harness broke');
    expect(d.metrics!.pilot!['freezeMsP95']).toBeUndefined();
  });
});

const pilot = (o: object = {}) => Pilot.parse({ name: 'kv', pools: ['a'], service: { command: ['x'] }, ready: { tcp: { port: 1 } }, ...o });

describe('stages and variants', () => {
  test('start first, then the stages, then the two variants of checkpoint-restore', () => {
    expect(pilotStages(pilot())).toEqual(['start', 'leave-running', 'checkpoint-restore', 'checkpoint-restore/reconnect', 'checkpoint-restore/pre-copy']);
    expect(pilotStages(pilot({ stages: ['leave-running'] }))).toEqual(['start', 'leave-running']);
  });

  test('reconnect runs only when the primary broke and the pilot held a connection or restores established TCP', () => {
    const held = pilot({ client: { held: { port: 1, send: 'a', expect: 'b' } }, criu: { options: ['--tcp-established'] } });
    const failed = foldAttempts([attempt('FAIL', BROKEN, {})], 1);
    const passed = foldAttempts([attempt('PASS', GOOD, { freezeMs: 10 })], 1);
    expect(variantNotNeeded('checkpoint-restore/reconnect', held, failed)).toBeUndefined();
    expect(variantNotNeeded('checkpoint-restore/reconnect', held, passed)).toMatch(/passed with its held connection/);
    expect(variantNotNeeded('checkpoint-restore/reconnect', pilot(), failed)).toMatch(/already is the reconnecting case/);
  });

  test('pre-copy runs only when the freeze p95 missed the budget', () => {
    const slow = foldAttempts([attempt('PASS', GOOD, { freezeMs: 700 })], 1);
    expect(variantNotNeeded('checkpoint-restore/pre-copy', pilot({ criteria: { freezeMsP95: 500 } }), slow)).toBeUndefined();
    expect(variantNotNeeded('checkpoint-restore/pre-copy', pilot({ criteria: { freezeMsP95: 800 } }), slow)).toMatch(/within the budget/);
    expect(variantNotNeeded('checkpoint-restore/pre-copy', pilot(), slow)).toMatch(/no freeze budget/);
  });

  test('CRIU options: dump-only and restore-only ones go where they belong; a variant drops what it does without', () => {
    expect(pilotCriuArgs(['--tcp-established', '--skip-in-flight', '--tcp-close', '--file-locks'])).toEqual({ dump: ['--tcp-established', '--skip-in-flight', '--file-locks'], restore: ['--tcp-established', '--tcp-close', '--file-locks'] });
    expect(pilotCriuArgs(['--tcp-established', '--ext-unix-sk'], ['--tcp-established'])).toEqual({ dump: ['--ext-unix-sk'], restore: ['--ext-unix-sk'] });
  });
});

describe('a migration over its attempts', () => {
  test('transfer and downtime spread like the other figures; the first failing attempt shows its fallback', () => {
    const ok: PilotAttempt = { ...attempt('PASS', GOOD, { freezeMs: 8, checkpointMs: 200, restoreMs: 180 }), figures: { freezeMs: 8, checkpointMs: 200, restoreMs: 180, transferMs: 40, downtimeMs: 1400, clientGapMs: 1400 } };
    const bad: PilotAttempt = { ...attempt('FAIL', GOOD, { freezeMs: 25, checkpointMs: 45 }), figures: { freezeMs: 25, checkpointMs: 45, transferMs: 30 }, fallback: { status: 'PASS', reason: 'restored on a from the same images and verified there' } };
    const c = foldAttempts([ok, bad], 5000);
    expect(c.status).toBe('FAIL');
    expect(c.fallback).toEqual({ status: 'PASS', reason: 'restored on a from the same images and verified there' });
    expect(c.metrics?.pilot).toMatchObject({ transferMsMax: 40, downtimeMsMax: 1400, restoreMsMax: 180, clientGapMsMax: 1400 });
    expect(foldAttempts([ok], 1).fallback).toBeUndefined();
  });
});
