/**
 * Ctrl-C while a checkpoint is in transit between two pools (a 192 MiB
 * big-mem going from the host trixie pool into a 6.12 VM, its images passing
 * through the harness's root-only transit directory): the run stops within
 * seconds, exits 130, and leaves nothing — no VM, no workload, no namespace
 * node, no transit directory or any other work directory with images; the
 * cells it did not finish are "not run", never FAIL or ERROR.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, tempDir, waitFor, workDirsOf } from './harness.ts';

/** Files in a migration transit directory of run PID, if any. */
function inTransit(pid: number): string[] {
  for (const run of workDirsOf(pid).filter((d) => d.startsWith('criu-compat-run-'))) {
    const base = join(tmpdir(), run, 'host-trixie', 'migration-transit');
    if (!existsSync(base)) continue;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : files.push(join(d, e.name));
    };
    try {
      walk(base);
    } catch {
      /* removed meanwhile */
    }
    if (files.length) return files;
  }
  return [];
}

test('Ctrl-C with images in transit: exit 130, nothing left behind, the migration not run', async () => {
  const dir = tempDir('criu-compat-mig-int-');
  const config = join(dir, 'pools.yaml');
  writeFileSync(
    config,
    [
      'pools:',
      '  - {name: host-trixie, kernel: host, image: debian-trixie}',
      '  - {name: k6.12-trixie, kernel: debian/trixie, image: debian-trixie, vm: {memoryMiB: 1536}}',
      'migrations:',
      '  - {name: g, from: [host-trixie], to: [k6.12-trixie], workloads: [big-mem], modes: [cold]}',
      'settings: {suites: [migration], bigMemMiB: [192]}',
    ].join('\n'),
  );
  const out = join(dir, 'out');
  const p = cli(['run', '--config', config, '--out', out]);
  const pid = p.pid!;
  // The images sit in the transit directory while they go into the VM over the agent's channel (seconds for 192 MiB).
  const seen = await waitFor(() => inTransit(pid).length > 0, 600_000);
  expect(seen, 'the run never had images in transit').toBe(true);
  const files = inTransit(pid);
  expect(files.every((f) => (statSync(f).mode & 0o077) === 0), 'transit files are root-only').toBe(true);
  const t0 = Date.now();
  p.kill('SIGINT');
  const r = await p;
  expect(r.exitCode).toBe(130);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(harnessProcesses()).toEqual([]);
  expect(workDirsOf(pid)).toEqual([]);
  const runs = readdirSync(out);
  const results = RunResults.parse(JSON.parse(readFileSync(join(out, runs[0]!, 'results.json'), 'utf8')));
  expect(results.interrupted).toBe(true);
  expect(results.cells.filter((c) => c.suite === 'migration' && (c.status === 'FAIL' || c.status === 'ERROR'))).toEqual([]);
  expect(results.notRun).toEqual(expect.arrayContaining([expect.objectContaining({ pool: 'host-trixie', suite: 'migration' })]));
}, 900_000);
