import { describe, expect, test } from 'vitest';
import type { Cell, RunResults } from '../results/schema.ts';
import { renderText } from './text.ts';

const cell = (pool: string, suite: string, check: string, status: Cell['status'], reason: string = status): Cell => ({
  pool,
  suite,
  check,
  status,
  reason,
  diagnoses: [],
  durations: { totalMs: 1 },
  metrics: {},
  logExcerpt: [],
  commands: [],
  startedAt: '2026-11-25T00:00:00.000Z',
});

function results(cells: Cell[]): RunResults {
  const pool = (name: string) => ({ name, kernel: 'host', backend: 'namespace', image: null, criuEnv: {}, inventory: null, capabilities: {} });
  return {
    schema: 'criu-compat/results',
    schemaVersion: 1,
    runId: 'r',
    startedAt: '2026-11-25T00:00:00.000Z',
    finishedAt: '2026-11-25T00:00:00.000Z',
    tool: { name: 'criu-compat', version: '0' },
    host: { hostname: 'h', kernelRelease: 'k', arch: 'x64', cpus: 2, memoryBytes: 1 },
    config: { file: 'f', pools: ['a', 'b'] },
    pools: [pool('a'), pool('b')],
    cells,
    summary: { PASS: 3, FAIL: 1, ERROR: 0, SKIP: 2 },
    interrupted: false,
    exitCode: 1,
  };
}

describe('text matrix', () => {
  test('worst status per pool and suite, counts, failures with reasons, skips by name', () => {
    const text = renderText(
      results([
        cell('a', 'round-trip', 'counter', 'PASS'),
        cell('a', 'round-trip', 'threads', 'FAIL', 'restored workload: thread 2 no longer runs'),
        cell('b', 'round-trip', 'counter', 'PASS'),
        cell('b', 'criu-check', 'check', 'PASS'),
        cell('b', 'criu-check', 'feature:autofs', 'SKIP'),
        cell('b', 'criu-check', 'check --all', 'SKIP', 'optional kernel features missing: autofs'),
      ]),
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^pool\s+kernel\s+backend\s+criu\s+criu-check\s+round-trip$/); // canonical suite order, not finishing order
    expect(lines[2]).toMatch(/^a .*-\s+FAIL  1\/2 pass, 1 fail$/);
    expect(lines[3]).toMatch(/^b .*PASS  1\/3 pass, 2 skip\s+PASS  1\/1 pass$/);
    expect(text).toContain('FAIL   a › round-trip › threads\n       restored workload: thread 2 no longer runs');
    expect(text).toContain('SKIP   b: missing autofs\n'); // its "check --all" says nothing more
    expect(text).not.toContain('check --all');
    expect(lines.at(-1)).toBe('3 passed, 1 failed, 0 errors, 2 skipped');
  });

  test('skips other than feature probes are grouped by what they lack, which their reason names', () => {
    const text = renderText(
      results([
        cell('a', 'runtime', 'crun/counter', 'SKIP', 'capability missing: crun 1.8.1 is built without CRIU support'),
        cell('a', 'runtime', 'crun/file-lock', 'SKIP', 'capability missing: crun 1.8.1 is built without CRIU support'),
        cell('a', 'runtime', 'runc/counter/pre-dump', 'SKIP', 'capability missing: mem_dirty_track'),
        cell('a', 'criu-check', 'check --all', 'SKIP', 'optional kernel features missing: x'),
      ]),
    );
    expect(text).toContain('SKIP   a › runtime › crun/counter, crun/file-lock: missing crun 1.8.1 is built without CRIU support\n');
    expect(text).toContain('SKIP   a › runtime › runc/counter/pre-dump: missing mem_dirty_track\n');
    // Without feature probes to name them, "check --all" is the one that does.
    expect(text).toContain('SKIP   a › criu-check › check --all: optional kernel features missing: x\n');
  });
});
