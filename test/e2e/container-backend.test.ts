/**
 * The container backend, for real: a node image started as a privileged
 * container with testcontainers through a Docker-API socket, and the same
 * suites run in it through the same Environment interface. Without
 * DOCKER_HOST the harness starts podman's Docker-compatible service itself
 * (and stops it); with DOCKER_HOST it uses the engine it is given — here a
 * podman service this test starts on the host, standing in for Docker on a runner.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import { api } from '../../src/environments/container/engine.ts';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, strayMounts, tempDir } from './harness.ts';

const scratch = tempDir('criu-compat-ctr-');

async function runPools(extraEnv: Record<string, string> = {}): Promise<{ code: number | undefined; all: string; results: RunResults }> {
  const cfg = join(scratch, `pools-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    cfg,
    [
      'pools:',
      '  - name: ctr-trixie',
      '    kernel: host',
      '    backend: container',
      '    image: debian-trixie',
      '    criu: {env: {CRIU_FAULT: "130"}}',
      'settings:',
      '  suites: [criu-check, round-trip]',
      '  workloads: [counter, process-tree]',
      '',
    ].join('\n'),
  );
  const out = mkdtempSync(join(scratch, 'out-'));
  const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress'], { env: extraEnv });
  const runs = readdirSync(out);
  expect(runs, r.all).toHaveLength(1);
  return { code: r.exitCode, all: r.all, results: RunResults.parse(JSON.parse(readFileSync(join(out, runs[0]!, 'results.json'), 'utf8'))) };
}

function leftovers(): string[] {
  const cg = ['', ...readdirSync('/sys/fs/cgroup')].flatMap((c) => ['criu-compat', 'libpod_parent'].map((n) => join('/sys/fs/cgroup', c, n))).filter((d) => existsSync(d));
  return [...harnessProcesses(), ...strayMounts(), ...cg];
}

describe('container backend (testcontainers over a Docker API)', () => {
  test('harness-started podman service: criu check and round trips PASS in the node container, and everything is gone afterwards', async () => {
    const { code, results, all } = await runPools();
    expect(code, all).toBe(0);
    const pool = results.pools[0]!;
    expect(pool.backend).toBe('container');
    expect(pool.inventory!.container!.engine).toMatch(/^podman \d+\.\d+\.\d+ \(Docker API, started by criu-compat\)$/);
    expect(pool.inventory!.container!.image).toMatch(/^localhost\/criu-compat-node\/debian-trixie:[0-9a-f]{16}$/);
    expect(pool.inventory!.criuVersion).toBe('4.1.1');
    expect(results.cells.find((c) => c.check === 'check')!.status).toBe('PASS');
    for (const check of ['counter', 'process-tree', 'counter/leave-running']) {
      const c = results.cells.find((x) => x.suite === 'round-trip' && x.check === check)!;
      expect(c.status, `${check}: ${c.reason}`).toBe('PASS');
      expect(c.workloadOutput).toContain('PASS');
      expect(c.metrics.criuDump?.frozenTimeUs).toBeGreaterThan(0);
    }
    expect(leftovers()).toEqual([]);
  }, 600_000);

  describe('with DOCKER_HOST', () => {
    // Docker on a runner, played by the host's own podman service (installed by .ci/run), on a private socket and storage.
    const dir = join(scratch, 'host-engine');
    const socket = join(dir, 'engine.sock');
    const podman = (args: string[]) => ['podman', '--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--tmpdir', join(dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', ...args];
    let service: ReturnType<typeof execa> | undefined;
    beforeAll(async () => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const [cmd, ...args] = podman(['system', 'service', '--time', '0', `unix://${socket}`]);
      service = execa(cmd!, args, { reject: false, env: { PODMAN_IGNORE_CGROUPSV1_WARNING: '1' } });
      for (let i = 0; i < 100 && !(await api(socket, 'GET', '/_ping', 1000).then((r) => r.status === 200, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
      expect((await api(socket, 'GET', '/_ping', 1000)).status).toBe(200);
    }, 60_000);
    afterAll(async () => {
      const [cmd, ...args] = podman(['rm', '-a', '-f', '-t', '0']);
      await execa(cmd!, args, { reject: false });
      service?.kill('SIGKILL');
      await service;
    });

    test('the given engine is used as it is, not a second one started', async () => {
      const { code, results, all } = await runPools({ DOCKER_HOST: `unix://${socket}` });
      expect(code, all).toBe(0);
      expect(results.pools[0]!.inventory!.container!.engine).toMatch(/^Podman Engine \d+\.\d+\.\d+ \(DOCKER_HOST\)$/);
      // Its container is gone again; the engine itself is the caller's and stays.
      const [cmd, ...args] = podman(['ps', '-a', '-q']);
      expect((await execa(cmd!, args, { reject: false })).stdout.trim()).toBe('');
      expect(results.cells.filter((c) => c.status !== 'PASS' && c.status !== 'SKIP')).toEqual([]);
    }, 600_000);

    test('a DOCKER_HOST nobody answers on is a pool ERROR naming it, exit 2', async () => {
      const { code, results } = await runPools({ DOCKER_HOST: `unix://${join(scratch, 'nobody.sock')}` });
      expect(code).toBe(2);
      expect(results.pools[0]!.error).toMatch(/DOCKER_HOST=unix:\/\/.*nobody\.sock: no Docker API answers there/);
      expect(results.cells.every((c) => c.status === 'ERROR')).toBe(true);
    }, 120_000);
  });
});
