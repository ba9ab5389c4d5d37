/**
 * Metrics for real: CRIU's own figures per cell, repetitions with success
 * rate and p50/p95/max, the fidelity of CRIU's frozen time against what the
 * workload itself saw, and the big-mem scale curve.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';

let results: RunResults;
let output = '';
const cell = (check: string): Cell => results.cells.find((c) => c.check === check)!;

beforeAll(async () => {
  const dir = tempDir('criu-compat-metrics-');
  const cfg = join(dir, 'pools.yaml');
  writeFileSync(
    cfg,
    'pools:\n  - {name: trixie-nobp, kernel: host, image: debian-trixie, criu: {env: {CRIU_FAULT: "130"}}}\nsettings:\n  suites: [round-trip]\n  workloads: [counter, big-mem]\n  bigMemMiB: [64, 256]\n',
  );
  const out = join(dir, 'out');
  const r = await cli(['run', '--config', cfg, '--out', out, '--repeat', '3', '--no-progress']);
  output = r.all;
  expect(r.exitCode, r.all).toBe(0);
  results = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
});

describe('metrics', () => {
  test('every cell ran 3 times; success rate and p50 <= p95 <= max of every figure', () => {
    for (const c of results.cells.filter((x) => x.status !== 'SKIP')) {
      expect(c.status, `${c.check}: ${c.reason}`).toBe('PASS');
      expect(c.repetitions).toEqual({ attempts: 3, successes: 3, successRate: 1 });
      expect(c.reason).toMatch(/in 3\/3 attempts$/);
      for (const k of ['totalMs', 'dumpMs', 'imageBytes', 'criuDump.frozenTimeUs', 'criuDump.freezingTimeUs', 'criuDump.memdumpTimeUs', 'criuDump.pagesWritten']) {
        const d = c.distribution![k]!;
        expect(d, `${c.check} ${k}`).toBeDefined();
        expect(d.n).toBe(3);
        expect(d.p50).toBeLessThanOrEqual(d.p95);
        expect(d.p95).toBeLessThanOrEqual(d.max);
      }
    }
    // A skipped capability is not retried.
    expect(cell('counter/pre-dump')).toMatchObject({ status: 'SKIP' });
    expect(cell('counter/pre-dump').repetitions).toBeUndefined();
  });

  test("fidelity: the stall counter saw across a --leave-running dump agrees with CRIU's frozen time within 20% (+2 ms)", () => {
    const d = cell('counter/leave-running').distribution!;
    const frozen = d['criuDump.frozenTimeUs']!.p50;
    const seen = d['observedStallUs']!.p50;
    expect(frozen).toBeGreaterThan(0);
    // The workload's stall also holds what CRIU's frozen_time does not count: stopping the task before
    // the clock starts and being scheduled again after it stops, a fixed 1-3 ms here (seen: 18.6 ms
    // observed vs 15.4 ms frozen under load, 23.5 vs 22.0 idle). So 20% of the frozen time plus 2 ms.
    expect(Math.abs(seen - frozen), `workload saw ${seen} µs, CRIU says frozen ${frozen} µs`).toBeLessThanOrEqual(0.2 * frozen + 2000);
  });

  test('restore figures come from stats-restore', () => {
    const c = cell('counter');
    expect(c.metrics.criuRestore!.restoreTimeUs).toBeGreaterThan(0);
    expect(c.metrics.criuRestore!.pagesRestored).toBe(c.metrics.criuDump!.pagesWritten);
  });

  test('scale curve: image size follows big-mem size; dump time per GiB reported and printed', () => {
    const small = cell('big-mem/64MiB');
    const large = cell('big-mem/256MiB');
    expect(small.metrics.imageBytes).toBeGreaterThanOrEqual(64 << 20);
    expect(large.metrics.imageBytes).toBeGreaterThanOrEqual(256 << 20);
    expect(large.metrics.imageBytes! / small.metrics.imageBytes!).toBeGreaterThan(3.5);
    expect(large.metrics.dumpMsPerGiB).toBeGreaterThan(0);
    expect(large.metrics.criuDump!.pagesWritten).toBeGreaterThanOrEqual((256 << 20) / 4096);
    expect(output).toMatch(/^scale  trixie-nobp: 64MiB: dump \d+ ms, image \d+ MiB; 256MiB: dump \d+ ms, image \d+ MiB → [\d.]+ s per GiB$/m);
  });
});
