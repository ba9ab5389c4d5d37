/**
 * Mode cri of the migration matrix for real (fixtures/migrations/cri-migration.yaml):
 * a pod's container checkpointed through CRI on one host pool's containerd and
 * restored through CRI on another pool's, between two containerd 2.x nodes
 * (PASS, or a diagnosed FAIL) and with a containerd 1.x node on either side
 * (SKIP naming the version that containerd itself reported); nothing of any
 * node's containerd left afterwards.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { migrationGrids } from '../../src/matrix/migration-grid.ts';
import { cli, harnessProcesses, ROOT, strayMounts, tempDir, workDirsOf } from './harness.ts';

/** containerd, its shims, pause, the node registry and workloads as the host sees them (any left would be ours: the run is over). */
function criProcesses(runPid: number): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    let exe = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue;
    }
    if (/\/containerd(-shim[\w-]*)?$/.test(exe) && /\/run\/criu-compat\//.test(cmd)) out.push(`${pid} ${cmd}`);
    else if (/^\/cc-pause$|^\/cc\/[\w-]+$/.test(cmd) || /\/cc-registry /.test(cmd)) out.push(`${pid} ${cmd}`);
  }
  return out.concat(harnessProcesses().filter((l) => l.includes(`criu-compat-run-${runPid}-`)));
}

test('a CRI checkpoint taken on one containerd 2.x pool restores on another; a containerd 1.x pool SKIPs naming its version; nothing left', async () => {
  const out = tempDir('criu-compat-e2e-');
  const run = cli(['run', '--config', join(ROOT, 'fixtures/migrations/cri-migration.yaml'), '--out', out, '--no-progress']);
  const r = await run;
  // A SKIP or PASS everywhere exits 0; a FAIL exits 1 and must then be diagnosed (below).
  expect([0, 1], r.all).toContain(r.exitCode);
  expect(r.all).not.toMatch(/containerd left behind/);
  const res = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
  const cells = res.cells.filter((c) => c.suite === 'migration' && c.mode === 'cri');
  const cell = (from: string, to: string, w: string) => cells.find((c) => c.source === from && c.destination === to && c.workload === w)!;
  // What each containerd said it is (its own `containerd --version` and CRI answers, in the cells' reasons).
  const versionOf = (text: string, pool: string) => new RegExp(`${pool} \\(containerd (\\d+)\\.\\d+\\.\\d+\\)`).exec(text)?.[1];
  for (const w of ['counter', 'process-tree']) {
    const ab = cell('host-sid-containerd', 'host-sid-containerd-2', w);
    expect(Number(versionOf(ab.reason, 'host-sid-containerd')), ab.reason).toBeGreaterThanOrEqual(2);
    expect(Number(versionOf(ab.reason, 'host-sid-containerd-2')), ab.reason).toBeGreaterThanOrEqual(2);
    if (ab.status === 'PASS') {
      expect(ab.reason).toMatch(/restored from the CRI checkpoint archive into a new pod/);
      expect(ab.workloadOutput).toContain('PASS');
      expect(ab.metrics.migration?.['transferBytes']).toBe(ab.metrics.archiveBytes);
      expect(ab.metrics.migration?.['transferIntegrityMs']).toBeGreaterThan(0);
    } else {
      expect(ab.status, ab.reason).toBe('FAIL');
      expect(ab.diagnoses.map((d) => d.id)).not.toContain('undiagnosed');
    }
    // 2.x → 1.7: the checkpoint is taken; the 1.7 destination takes the archive for an image name.
    const a7 = cell('host-sid-containerd', 'host-trixie-containerd', w);
    expect(a7).toMatchObject({ status: 'SKIP', reason: expect.stringMatching(/capability missing: containerd 1\.\d+\.\d+ cannot restore from a checkpoint archive/) });
    expect(a7.diagnoses.map((d) => d.id)).toEqual(['cri-restore-archive-not-an-image']);
    // 1.7 as the source: no CheckpointContainer.
    for (const to of ['host-sid-containerd-2', 'host-trixie-containerd']) {
      const s = cell('host-trixie-containerd', to, w);
      expect(s).toMatchObject({ status: 'SKIP', reason: expect.stringMatching(/^on host-trixie-containerd: capability missing: containerd 1\.\d+\.\d+ does not implement CRI CheckpointContainer/) });
      expect(s.diagnoses.map((d) => d.id)).toEqual(['cri-checkpoint-unimplemented']);
    }
  }
  // tcp-external: the pod reached its peer outside (ready means connected); the restored pod has another address.
  for (const to of ['host-sid-containerd', 'host-sid-containerd-2']) {
    const x = cell('host-sid-containerd', to, 'tcp-external');
    expect(x.commands.join('\n')).toMatch(/echo peer outside the pod and its node/);
    if (x.status !== 'PASS') {
      expect(x.status, x.reason).toBe('FAIL');
      expect(x.diagnoses.map((d) => d.id)).toContain('tcp-address-missing');
      expect(x.reason).toMatch(/the CNI gave the restored pod a new one/);
    }
  }
  // The grid: rows are sources, columns destinations, one grid per workload in mode cri.
  const grids = migrationGrids(res).filter((g) => g.mode === 'cri');
  expect(grids.map((g) => g.title).sort()).toEqual(['counter/cri', 'process-tree/cri', 'tcp-external/cri']);
  expect(grids[0]!.sources).toEqual(['host-sid-containerd', 'host-trixie-containerd']);
  expect(grids[0]!.destinations).toEqual(['host-sid-containerd-2', 'host-trixie-containerd']);
  expect(r.all).toMatch(/migration counter\/cri: source/);
  // Nothing left: containerd, shims, pause, registry, workloads; mounts; the run's work directories.
  expect(criProcesses(run.pid!)).toEqual([]);
  expect(strayMounts()).toEqual([]);
  expect(workDirsOf(run.pid!)).toEqual([]);
});
