import { describe, expect, test } from 'vitest';
import { aggregate, percentile, repeatCell, type Attempt } from './repeat.ts';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactPolicy } from '../artifacts/policy.ts';
import { startArtifacts } from './artifacts-run.ts';

const attempt = (status: Attempt['status'], dumpMs: number, reason = status.toLowerCase()): Attempt => ({
  status,
  reason,
  durations: { totalMs: dumpMs * 2, dumpMs },
  metrics: { imageBytes: 100, criuDump: { frozenTimeUs: dumpMs * 100 } },
  diagnoses: [],
  logExcerpt: [],
  commands: [],
  workloadOutput: [],
});

describe('aggregation of repeated attempts', () => {
  test('nearest-rank percentiles', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 95)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
  });

  test('one attempt: the attempt itself, no distribution', () => {
    const d = aggregate([attempt('PASS', 10, 'restored workload verified its own state')]);
    expect(d).toMatchObject({ status: 'PASS', reason: 'restored workload verified its own state' });
    expect(d.repetitions).toBeUndefined();
    expect(d.distribution).toBeUndefined();
  });

  test('all pass: PASS with 100% and p50/p95/max of nested figures', () => {
    const d = aggregate([10, 30, 20].map((ms) => attempt('PASS', ms, 'ok')));
    expect(d.status).toBe('PASS');
    expect(d.reason).toBe('ok in 3/3 attempts');
    expect(d.repetitions).toEqual({ attempts: 3, successes: 3, successRate: 1 });
    expect(d.distribution!.dumpMs).toEqual({ n: 3, p50: 20, p95: 30, max: 30 });
    expect(d.distribution!['criuDump.frozenTimeUs']).toEqual({ n: 3, p50: 2000, p95: 3000, max: 3000 });
  });

  test('one failure in three: FAIL with the success rate and the first failure shown', () => {
    const d = aggregate([attempt('PASS', 10), attempt('FAIL', 11, 'restored workload: heap byte 7 changed'), attempt('PASS', 12)]);
    expect(d.status).toBe('FAIL');
    expect(d.reason).toBe('1/3 attempts failed; first: restored workload: heap byte 7 changed');
    expect(d.repetitions).toMatchObject({ attempts: 3, successes: 2 });
    expect(d.repetitions!.successRate).toBeCloseTo(2 / 3);
    expect(d.durations.dumpMs).toBe(11);
  });

  test('an ERROR anywhere makes the cell ERROR (the harness broke, not the tuple)', () => {
    expect(aggregate([attempt('PASS', 1), attempt('ERROR', 2, 'workload exited before it was ready')]).status).toBe('ERROR');
  });
});

describe('repeatCell: one cell from settings.repeat attempts', () => {
  const env = (keep: string[]) =>
    ({
      workDir: '/w',
      id: 'pool/round-trip',
      remove: async (p: string) => void keep.push(`rm ${p}`),
      du: async () => 10,
      copyOut: async (from: string, to: string) => (keep.push(`copy ${from}`), mkdirSync(to, { recursive: true }), writeFileSync(join(to, 'core-1.img'), 'x'), to),
    }) as unknown as Parameters<typeof repeatCell>[0]['env'];
  const ctx = (repeat: number, keepArtifacts: boolean, log: string[], artifacts?: ArtifactPolicy) => ({ plan: { keepArtifacts, settings: { repeat }, ...(artifacts ? { artifacts } : {}) }, pool: { name: 'p' }, suite: 'round-trip', check: 'big-mem/64MiB', env: env(log) });

  test('each attempt in its own directory, removed after it (and elsewhere through cleanup)', async () => {
    const log: string[] = [];
    const d = await repeatCell(ctx(3, false, log), async (dir, i) => (log.push(`attempt ${i} ${dir}`), attempt('PASS', i)), async (dir) => void log.push(`cleanup ${dir}`));
    expect(d.repetitions).toEqual({ attempts: 3, successes: 3, successRate: 1 });
    expect(log.slice(0, 3)).toEqual(['attempt 1 /w/cells/big-mem_64MiB/1', 'rm /w/cells/big-mem_64MiB/1', 'cleanup /w/cells/big-mem_64MiB/1']);
    expect(log).toHaveLength(9);
  });

  test('a SKIP or ERROR stops the repetition; one attempt uses the cell directory; kept artifacts are kept on the host, then the work copy goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-repeat-'));
    const policy = await startArtifacts(dir, 'R1', {});
    const log: string[] = [];
    const d = await repeatCell(ctx(5, true, log, policy), async (dir, i) => (log.push(`attempt ${i} ${dir}`), attempt(i === 2 ? 'ERROR' : 'PASS', i)));
    expect(d.status).toBe('ERROR');
    expect(log).toEqual(['attempt 1 /w/cells/big-mem_64MiB/1', 'attempt 2 /w/cells/big-mem_64MiB/2', 'copy /w/cells/big-mem_64MiB', 'rm /w/cells/big-mem_64MiB/1', 'rm /w/cells/big-mem_64MiB/2']);
    expect(d.artifacts).toBe(join(dir, 'artifacts/p/round-trip/cells/big-mem_64MiB'));
    expect(statSync(join(d.artifacts!, 'core-1.img')).mode & 0o777).toBe(0o600);
    const one: string[] = [];
    await repeatCell(ctx(1, false, one), async (dir) => (one.push(dir), attempt('SKIP', 1)));
    expect(one).toEqual(['/w/cells/big-mem_64MiB', 'rm /w/cells/big-mem_64MiB']);
    rmSync(dir, { recursive: true, force: true });
  });
});
