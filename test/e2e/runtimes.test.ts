/**
 * The runtime suite, for real: runc, crun and podman from Debian trixie's
 * node image, on this machine's kernel, checkpointing and restoring workload
 * containers; podman's export restored with --import in a second
 * environment. What the verdicts must be follows from facts probed here
 * (kernel release, cgroup layout, dirty tracking), not from a fixed list.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import semver from 'semver';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { cli, harnessProcesses, strayMounts, tempDir } from './harness.ts';

const out = tempDir('criu-compat-rt-');
let results: RunResults;
let exitCode: number | undefined;
let output = '';

const cell = (check: string): Cell => {
  const c = results.cells.find((x) => x.suite === 'runtime' && x.check === check);
  if (!c) throw new Error(`no cell runtime/${check}; have ${results.cells.map((x) => x.check).join(', ')}`);
  return c;
};
const hybrid = () => results.pools[0]!.inventory!.cgroupMode === 'hybrid';
const kernel616 = semver.gte(semver.coerce(release())!, '6.16.0');

beforeAll(async () => {
  const cfg = join(out, 'pools.yaml');
  writeFileSync(
    cfg,
    [
      'pools:',
      '  - name: rt',
      '    kernel: host',
      '    image: debian-trixie-containers',
      '    criu: {env: {CRIU_FAULT: "130"}}',
      'settings:',
      '  suites: [runtime]',
      '',
    ].join('\n'),
  );
  const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
  exitCode = r.exitCode;
  output = r.all;
  const runs = readdirSync(out).filter((d) => d !== 'pools.yaml');
  expect(runs, output).toHaveLength(1);
  results = RunResults.parse(JSON.parse(readFileSync(join(out, runs[0]!, 'results.json'), 'utf8')));
}, 600_000);

describe('runtime suite on debian-trixie-containers, host kernel', () => {
  test('the inventory names each runtime, its version and whether it can checkpoint', () => {
    const rts = results.pools[0]!.inventory!.runtimes!;
    expect(rts.map((r) => r.name)).toEqual(['runc', 'crun', 'podman']);
    expect(rts.find((r) => r.name === 'runc')).toMatchObject({ version: expect.stringMatching(/^1\.1\.\d+/), checkpoint: true });
    expect(rts.find((r) => r.name === 'crun')).toMatchObject({ version: expect.stringMatching(/^1\.\d+/), checkpoint: true });
    expect(rts.find((r) => r.name === 'crun')!.features).toContain('+CRIU');
    expect(rts.find((r) => r.name === 'podman')).toMatchObject({ version: expect.stringMatching(/^5\./), ociRuntime: 'runc', settings: { cgroupManager: 'cgroupfs', ulimit: 'host' } });
  });

  test('runc runs the workload and round-trips a counter, a process tree and file locks; its own log says PASS', () => {
    for (const check of ['runc/run', 'runc/counter', 'runc/process-tree', 'runc/file-lock', 'runc/counter/leave-running']) {
      const c = cell(check);
      expect(c.status, `${check}: ${c.reason}`).toBe('PASS');
      expect(c.workloadOutput).toContain('PASS');
    }
    expect(cell('runc/counter').metrics.criuDump?.frozenTimeUs).toBeGreaterThan(0);
    expect(cell('runc/counter').commands.some((x) => /^runc .*checkpoint .*--image-path/.test(x))).toBe(true);
    expect(cell('runc/file-lock').commands.some((x) => /--file-locks/.test(x))).toBe(true);
  });

  test('TCP with its peer: PASS, or on kernels >= 6.16 with CRIU 4.1 the diagnosed SO_PASSCRED failure', () => {
    for (const rt of ['runc', 'podman']) {
      const c = cell(`${rt}/tcp-established`);
      expect(c.commands.some((x) => /--tcp-established/.test(x))).toBe(true);
      if (kernel616) {
        expect(c.status).toBe('FAIL');
        expect(c.diagnoses.map((d) => d.id)).toContain('sockopt-passcred');
      } else expect(c.status, c.reason).toBe('PASS');
    }
  });

  test('crun: on a hybrid cgroup layout every cell is the diagnosed crun failure, never a harness ERROR', () => {
    for (const c of results.cells.filter((x) => x.check.startsWith('crun/') && x.check !== 'crun/counter/pre-dump')) {
      if (hybrid()) {
        expect(c.status, c.check).toBe('FAIL');
        expect(c.diagnoses.map((d) => d.id)).toEqual(['crun-cgroup-hybrid']);
        expect(c.diagnoses[0]!.remediation).toMatch(/runc/);
      } else expect(['PASS', 'FAIL']).toContain(c.status);
    }
  });

  test('pre-dump SKIPs naming mem_dirty_track where the kernel lacks soft-dirty', () => {
    const soft = results.pools[0]!.inventory!.kernelConfig?.CONFIG_MEM_SOFT_DIRTY;
    for (const rt of ['runc', 'podman']) {
      const c = cell(`${rt}/counter/pre-dump`);
      if (soft === null) {
        expect(c.status).toBe('SKIP');
        expect(c.reason).toMatch(/mem_dirty_track/);
      }
    }
  });

  test('podman: round trips with --print-stats captured into the cell', () => {
    for (const check of ['podman/run', 'podman/counter', 'podman/process-tree', 'podman/file-lock', 'podman/counter/leave-running']) expect(cell(check).status, `${check}: ${cell(check).reason}`).toBe('PASS');
    const stats = cell('podman/counter').metrics.runtimeStats!;
    expect(stats['checkpoint.podmanCheckpointDurationUs']).toBeGreaterThan(0);
    expect(stats['checkpoint.criu.frozenTimeUs']).toBeGreaterThan(0);
    expect(stats['restore.criu.restoreTimeUs']).toBeGreaterThan(0);
  });

  test('podman export on one node, import on another: the archive is root-only, holds spec, checkpoint and rootfs changes, and the container verifies itself there', () => {
    const c = cell('podman/counter/export-import');
    expect(c.status, c.reason).toBe('PASS');
    expect(c.reason).toMatch(/on the other node verified its own state \(archive [\d.]+ MB, root-only: .*config\.dump.*spec\.dump.*checkpoint\/ \(\d+ files\)/);
    expect(c.reason).toMatch(/rootfs-diff\.tar/);
    expect(c.commands.some((x) => / cp .*:\/cc\/changed-on-source$/.test(x))).toBe(true);
    expect(c.metrics.archiveBytes).toBeGreaterThan(100_000);
    expect(c.commands.some((x) => /checkpoint .*--export/.test(x))).toBe(true);
    expect(c.commands.some((x) => /restore .*--import/.test(x))).toBe(true);
  });

  test('exit code 1 (tuples failed) and nothing left behind: processes, mounts, cgroups', () => {
    const anyFail = results.cells.some((c) => c.status === 'FAIL');
    expect(exitCode).toBe(anyFail ? 1 : 0);
    expect(results.cells.filter((c) => c.status === 'ERROR')).toEqual([]);
    expect(harnessProcesses().filter((p) => /runc|crun|podman|conmon|criu/.test(p))).toEqual([]);
    expect(strayMounts()).toEqual([]);
    const left = ['', ...readdirSync('/sys/fs/cgroup')].map((c) => join('/sys/fs/cgroup', c, 'criu-compat')).filter((d) => existsSync(d));
    expect(left).toEqual([]);
  });
});
