import { describe, expect, test } from 'vitest';
import { CONTAINER_WORKLOADS, SUITES, Settings } from '../config/schema.ts';
import { needsOfSuite, sessionsFor, suitesOfPool, workloadsFor } from './registry.ts';

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
    const both = workloadsFor({ workloads: ['counter', 'threads'], suites: ['round-trip', 'runtime'] });
    expect(both.slice(0, 2)).toEqual(['counter', 'threads']);
    expect(new Set(both)).toEqual(new Set(['counter', 'threads', ...CONTAINER_WORKLOADS]));
    expect(both).toEqual(expect.arrayContaining(['process-tree', 'tcp-established', 'file-lock', 'unix-stream', 'sysv-shm']));
  });

  test('security: its own fixtures and a second node; not run unless named (its VM cost)', () => {
    expect(sessionsFor(['security'])).toEqual(['security', 'security-peer']);
    expect(workloadsFor({ workloads: ['counter'], suites: ['security'] })).toEqual(['counter', 'secret-canary', 'sandbox-probe', 'threads']);
    expect(Settings.parse({}).suites).toEqual(SUITES.filter((s) => s !== 'security' && s !== 'pilot'));
    expect(Settings.parse({ suites: ['security'] }).suites).toEqual(['security']);
  });
});

test('a suite that names its pools runs only there: the pilot suite on the pools its pilots name', () => {
  const config = { pilots: [{ pools: ['a', 'b'] }, { pools: ['b'] }] } as unknown as Parameters<typeof suitesOfPool>[1];
  expect(suitesOfPool(['round-trip', 'pilot'], config, 'b')).toEqual(['round-trip', 'pilot']);
  expect(suitesOfPool(['round-trip', 'pilot'], config, 'c')).toEqual(['round-trip']);
});
