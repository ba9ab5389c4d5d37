import { describe, expect, test } from 'vitest';
import { migrationCases } from './migration.ts';
import { attemptCriMigration, criImageWorkloads } from './migration-cri.ts';
import type { Environment } from '../environments/environment.ts';
import type { Settings } from '../config/schema.ts';

const timeouts = { commandMs: 1000, criuMs: 1000, readyMs: 1000, verifyMs: 1000, bootMs: 1000 } as unknown as Settings['timeouts'];

describe('mode cri', () => {
  test('its cells are the container workloads a group names (WORKLOAD/cri → DESTINATION), no runtime split', () => {
    const cases = migrationCases({ destination: 'b', workloads: ['counter', 'threads', 'process-tree', 'big-mem', 'tcp-external'], modes: ['cold', 'cri'] }, [64]);
    expect(cases.map((c) => c.check)).toEqual(['counter/cold → b', 'counter/cri → b', 'threads/cold → b', 'process-tree/cold → b', 'process-tree/cri → b', 'big-mem/64MiB/cold → b', 'tcp-external/cold → b', 'tcp-external/cri → b']);
    expect(cases.filter((c) => c.mode === 'cri').every((c) => c.runtime === undefined && c.args.length === 0)).toBe(true);
  });

  test("every node's workload image holds the same workloads: mode cri's, those the run built, in a fixed order", () => {
    expect(criImageWorkloads({ 'process-tree': '/b/pt', threads: '/b/t', counter: '/b/c' })).toEqual(['counter', 'process-tree']);
    expect(criImageWorkloads({ 'tcp-external': '/b/x', counter: '/b/c' })).toEqual(['counter', 'tcp-external']);
    expect(criImageWorkloads({ threads: '/b/t' })).toEqual([]);
  });

  test('a node without containerd (or one that could not come up) ends the cell before anything runs, with its reason and status', async () => {
    const touched: string[] = [];
    const env = new Proxy({} as Environment, { get: (_t, k) => (touched.push(String(k)), () => Promise.resolve()) });
    const c = migrationCases({ destination: 'b', workloads: ['counter'], modes: ['cri'] }, [])[0]!;
    const skip = await attemptCriMigration(c, { source: { pool: 'a', env, cri: { ok: false, status: 'SKIP', reason: 'capability missing: containerd on a (its node image has none)' } }, destination: { pool: 'b', env, cri: { ok: false, status: 'ERROR', reason: 'never read' } }, dir: '/x', transit: '/t', timeouts });
    expect(skip).toMatchObject({ status: 'SKIP', reason: 'capability missing: containerd on a (its node image has none)' });
    const err = await attemptCriMigration(c, { source: { pool: 'a', env, cri: { ok: false, status: 'ERROR', reason: 'containerd 2.1.9 on a could not be brought up: x' } }, destination: { pool: 'b', env, cri: { ok: false, status: 'SKIP', reason: 'y' } }, dir: '/x', transit: '/t', timeouts });
    expect(err.status).toBe('ERROR');
    expect(touched).toEqual([]);
  });
});
