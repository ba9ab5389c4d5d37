/**
 * vm.cpu for real: a pool's guest runs on the QEMU CPU model it names
 * (feature switches included), the inventory records that model and the
 * CPU the guest itself reports, and a round trip there PASSes.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, tempDir } from './harness.ts';

test('a pool with vm.cpu "Nehalem,-popcnt": the guest sees a Nehalem without POPCNT, the inventory says so, counter PASSes', async () => {
  const dir = tempDir('criu-compat-cfg-');
  const cfg = join(dir, 'pools.yaml');
  writeFileSync(cfg, ['pools:', '  - name: vm-nehalem', '    kernel: debian/trixie', '    image: debian-trixie', '    vm: {memoryMiB: 1536, cpu: "Nehalem,-popcnt"}', 'settings:', '  workloads: [counter]', '  suites: [round-trip]', ''].join('\n'));
  const out = tempDir('criu-compat-e2e-');
  const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
  expect(r.exitCode, r.all).toBe(0);
  const run = readdirSync(out).sort().at(-1)!;
  const res = RunResults.parse(JSON.parse(readFileSync(join(out, run, 'results.json'), 'utf8')));
  const inv = res.pools[0]!.inventory!;
  expect(inv.vm!.cpuModel).toBe('Nehalem,-popcnt');
  expect(inv.cpu!.model).toMatch(/Nehalem/);
  // Nehalem has SSE4.2 but neither XSAVE nor AVX; the switch took POPCNT away.
  expect(inv.cpu!.flags).toContain('sse4_2');
  for (const f of ['popcnt', 'xsave', 'avx', 'avx2']) expect(inv.cpu!.flags).not.toContain(f);
  const counter = res.cells.find((c) => c.check === 'counter')!;
  expect(counter.status, counter.reason).toBe('PASS');
  // Only this test's VM: other runs may have VMs of their own on this machine.
  expect(harnessProcesses().filter((p) => /-name criu-compat-vm-nehalem /.test(p))).toEqual([]);
}, 600_000);
