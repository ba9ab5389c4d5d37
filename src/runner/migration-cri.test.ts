import { describe, expect, test } from 'vitest';
import { migrationCases } from './migration.ts';
import { attemptCriMigration, criImageWorkloads, CriMigrationNodes, type CriNodeInputs } from './migration-cri.ts';
import type { MigrationNode } from './migration.ts';
import { EnvironmentError } from '../errors.ts';
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

const nodeInputs = (pool: string, exec: Environment['exec']): CriNodeInputs => ({
  node: { pool, env: { exec, backend: 'namespace' } as unknown as Environment } as unknown as MigrationNode,
  pause: '/p',
  registry: '/r',
  binaries: {},
  tag: 't',
  timeouts,
  criuEnv: {},
});

test('a node that fails while its containerd is looked up is that pool\'s ERROR; stopAll still goes through every pool', async () => {
  const nodes = new CriMigrationNodes();
  const broken = await nodes.get('a', () => nodeInputs('a', async () => { throw new EnvironmentError('environment a is gone (its init exited)'); }));
  expect(broken).toMatchObject({ ok: false, status: 'ERROR', reason: expect.stringContaining('environment a is gone') });
  const none = await nodes.get('b', () => nodeInputs('b', async () => ({ exitCode: 127, stdout: '', stderr: 'containerd: not found', durationMs: 1, timedOut: false })));
  expect(none).toMatchObject({ ok: false, status: 'SKIP' });
  await expect(nodes.stopAll()).resolves.toEqual({});
});
