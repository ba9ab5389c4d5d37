import { describe, expect, test } from 'vitest';
import { SUITES } from '../config/schema.ts';
import { needsOfSuite, sessionsFor, workloadsFor } from './registry.ts';

describe('suite declarations', () => {
  test('every suite declares what it needs, its own session first', () => {
    for (const s of SUITES) expect(needsOfSuite(s).sessions[0]).toBe(s);
    expect(() => needsOfSuite('nope')).toThrow(/no declaration of what suite "nope" needs/);
  });

  test('sessions per pool: one per suite, plus the runtime suite\'s second node, in suite order', () => {
    expect(sessionsFor(['criu-check', 'round-trip', 'runtime'])).toEqual(['criu-check', 'round-trip', 'runtime', 'runtime-peer']);
    expect(sessionsFor(['criu-check', 'round-trip'])).toEqual(['criu-check', 'round-trip']);
  });

  test('workloads: settings.workloads, and the runtime suite\'s container workloads only when it runs', () => {
    expect(workloadsFor({ workloads: ['counter', 'threads'], suites: ['round-trip'] })).toEqual(['counter', 'threads']);
    expect(workloadsFor({ workloads: ['counter', 'threads'], suites: ['round-trip', 'runtime'] })).toEqual(['counter', 'threads', 'process-tree', 'tcp-established', 'file-lock']);
  });
});
