/**
 * CPU models in a migration, for real: two VM pools on Debian trixie's 6.12
 * kernel, one with QEMU's richest model for its accelerator (max under TCG,
 * host under KVM), one pinned to `vm.cpu: qemu64`. The counter moved from
 * the richer to the poorer CPU FAILs, diagnosed with the features the
 * destination lacks (read from both nodes' inventories) and the CRIU option
 * that trades safety for portability; the opposite direction PASSes. Which
 * CPU is richer is decided from the inventories, never assumed.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { missingCpuFeatures } from '../../src/criu/cpu-features.ts';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, tempDir } from './harness.ts';

let results: RunResults;

beforeAll(async () => {
  const dir = tempDir('criu-compat-mig-cpu-');
  const config = join(dir, 'pools.yaml');
  writeFileSync(
    config,
    [
      'pools:',
      '  - {name: k6.12-rich, kernel: debian/trixie, image: debian-trixie, vm: {memoryMiB: 1536}}',
      '  - {name: k6.12-qemu64, kernel: debian/trixie, image: debian-trixie, vm: {memoryMiB: 1536, cpu: qemu64}}',
      'migrations:',
      '  - {name: cpu, pools: [k6.12-rich, k6.12-qemu64], workloads: [counter], modes: [cold]}',
      'settings: {suites: [migration]}',
    ].join('\n'),
  );
  const out = join(dir, 'out');
  const r = await cli(['run', '--config', config, '--out', out]);
  expect([0, 1], r.all).toContain(r.exitCode);
  results = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
}, 900_000);

test('richer → poorer CPU: FAIL naming what the destination lacks and --cpu-cap; poorer → richer: PASS; the diagonals PASS', () => {
  const pools = new Map(results.pools.map((p) => [p.name, p]));
  expect(pools.get('k6.12-qemu64')!.inventory!.vm?.cpuModel ?? pools.get('k6.12-qemu64')!.inventory!.cpu?.model).toMatch(/qemu64|QEMU Virtual CPU/i);
  const cells = results.cells.filter((c) => c.suite === 'migration');
  expect(cells).toHaveLength(4);
  for (const c of cells) {
    const missing = missingCpuFeatures(pools.get(c.source!)!.inventory!.cpu, pools.get(c.destination!)!.inventory!.cpu)!;
    expect(missing, 'both inventories name the CPU').toBeDefined();
    if (c.source === c.destination || missing.length === 0) {
      expect(c.status, `${c.source} → ${c.destination}: ${c.reason}`).toBe('PASS');
      continue;
    }
    // The destination lacks features the source had: the direction is incompatible, and the cell says why.
    expect(c.status, `${c.source} → ${c.destination}: ${c.reason}`).toBe('FAIL');
    const cpu = c.diagnoses.find((d) => /^cpu-/.test(d.id));
    expect(cpu, JSON.stringify(c.diagnoses.map((d) => d.id))).toBeDefined();
    expect(`${cpu!.cause} ${cpu!.remediation}`).toMatch(/--cpu-cap/);
    expect(c.fallback).toMatchObject({ status: 'PASS' });
  }
  // One direction of the pair is richer → poorer, so exactly the two off-diagonal cells differ.
  expect(cells.filter((c) => c.source !== c.destination).map((c) => c.status).sort()).toEqual(['FAIL', 'PASS']);
  expect(harnessProcesses()).toEqual([]);
});
