import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseCpuInfo } from '../backends/inventory.ts';
import { cpuFeaturesNamedInLog, featureList, missingCpuFeatures } from './cpu-features.ts';
import { diagnose, failureStatus } from './diagnose.ts';
import { activeSignatures } from './signatures.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/recorded');
const log = (f: string) => readFileSync(join(fixtures, 'criu-logs', f), 'utf8');
const cpu = (f: string) => parseCpuInfo(readFileSync(join(fixtures, 'cpuinfo', f), 'utf8'))!;
const max = cpu('tcg-max.txt');
const qemu64 = cpu('tcg-qemu64.txt');
const hostCpu = cpu('host.txt');
const only = (text: string, extra = {}) => {
  const d = diagnose({ text, ...extra }).filter((x) => x.blame !== 'note');
  expect(d, d.map((x) => x.id).join(', ')).toHaveLength(1);
  return d[0]!;
};

describe('CPU features between two nodes', () => {
  test('-cpu max → -cpu qemu64 (TCG guests recorded here): the XSAVE family and the instruction sets first, machine flags left out', () => {
    const missing = missingCpuFeatures(max, qemu64)!;
    expect(missing.slice(0, 4)).toEqual(['xsave', 'xsaveopt', 'xgetbv1', 'avx']);
    expect(missing).toEqual(expect.arrayContaining(['avx2', 'fma', 'bmi2', 'sse4_2', 'aes']));
    for (const f of ['hypervisor', 'arat', 'smep', 'fpu']) expect(missing).not.toContain(f);
    expect(missingCpuFeatures(qemu64, max)).toEqual([]);
    expect(missingCpuFeatures(max, null)).toBeUndefined();
    expect(missingCpuFeatures(undefined, max)).toBeUndefined();
  });

  test("CRIU's own lists: 1 is a feature the image needs and this CPU lacks", () => {
    expect(cpuFeaturesNamedInLog('cpu: FPU feature required by image is not supported on host (fpu:0 fxsr:0 osxsave:1 xsaves:0)')).toEqual(['osxsave']);
    expect(cpuFeaturesNamedInLog("x86: FPU xsave area present, but host cpu doesn't support it")).toEqual(['xsave']);
    expect(cpuFeaturesNamedInLog('anything else')).toEqual([]);
    expect(featureList(['a', 'b', 'c'], 2)).toBe('a, b … (3 in all)');
  });
});

describe('restore on another node: signatures on logs recorded here (CRIU 4.1.1 / 3.17.1, Debian 6.1 and 6.12 kernels in TCG guests)', () => {
  test('counter dumped on -cpu max, restored on -cpu qemu64 without --cpu-cap: the restorer refuses the XSAVE state; the diagnosis names the features from both inventories', () => {
    const text = log('trixie-4.1.1-k6.12-tcg-restore-max-on-qemu64-xsave.excerpt.log');
    const d = only(text, { cpu: { source: max, destination: qemu64 } });
    expect(d).toMatchObject({ id: 'cpu-features-missing', blame: 'tuple', evidence: expect.stringContaining("FPU xsave area present, but host cpu doesn't support it") });
    expect(d.cause).toMatch(/^The destination's CPU \(QEMU Virtual CPU version 2\.5\+\) lacks \d+ features the source's \(QEMU TCG CPU version 2\.5\+\) offered: xsave, xsaveopt, xgetbv1, avx, avx2, .* CRIU names: xsave\./);
    expect(d.remediation).toMatch(/--cpu-cap=none .* trades safety for portability/);
    expect(failureStatus([d])).toBe('FAIL');
    // Without the inventories the log alone still names what it knows.
    expect(only(text).cause).toMatch(/^CRIU names: xsave\. The process was dumped/);
  });

  test('with --cpu-cap on dump and restore, CRIU refuses at start naming the FPU feature; `criu cpuinfo check` says the same', () => {
    for (const f of ['trixie-4.1.1-k6.12-tcg-restore-cpu-cap-fpu-max-on-qemu64.excerpt.log', 'trixie-4.1.1-k6.12-tcg-cpuinfo-check-max-on-qemu64.excerpt.log']) {
      const d = only(log(f));
      expect(d.id).toBe('cpu-features-missing');
      expect(d.cause).toMatch(/^CRIU names: osxsave\./);
    }
  });

  test.for(['ins', 'fpu'])("the opposite direction with --cpu-cap=%s on dump and restore: refused for the XSAVE size, though the destination lacks nothing", (cap) => {
    const text = log(`trixie-4.1.1-k6.12-tcg-restore-cpu-cap-${cap}-qemu64-on-max-xsave-size.excerpt.log`);
    const d = only(text, { cpu: { source: qemu64, destination: max } });
    expect(d).toMatchObject({ id: 'cpu-strict-check-refused', blame: 'tuple', evidence: expect.stringContaining('CPU xsave size mismatch (0/2696)') });
    expect(d.cause).toMatch(/^The destination's CPU \(QEMU TCG CPU version 2\.5\+\) has every feature of the source's \(QEMU Virtual CPU version 2\.5\+\); only the check stops it\./);
    expect(d.remediation).toMatch(/only in pools of identical CPUs/);
  });

  test('the opposite direction (qemu64 dumped, max restores) passes: no diagnosis', () => {
    const text = log('trixie-4.1.1-k6.12-tcg-restore-qemu64-on-max-passes.excerpt.log');
    expect(text).toMatch(/Restore finished successfully/);
    expect(diagnose({ text, cpu: { source: qemu64, destination: max } }).filter((d) => d.blame !== 'note')).toEqual([]);
  });

  test('--cpu-cap=none: the restore succeeds and the process dies of SIGILL later (the guest kernel log)', () => {
    const d = only(log('trixie-4.1.1-k6.12-tcg-cpu-cap-none-max-on-qemu64.dmesg.txt'), { cpu: { source: max, destination: qemu64 } });
    expect(d).toMatchObject({ id: 'cpu-invalid-opcode', blame: 'tuple', evidence: expect.stringMatching(/traps: counter\[\d+\] trap invalid opcode/) });
    expect(d.cause).toMatch(/^The destination's CPU lacks xsave, xsaveopt/);
  });

  // The same cases recorded with both CRIU releases (3.17.1 on Debian's 6.1 kernel, 4.1.1 on 6.12): the wording is the same.
  const VERSIONS = ['bookworm-3.17.1-k6.1', 'trixie-4.1.1-k6.12'] as const;

  test.for(VERSIONS)('%s: open file missing on the destination: names the file', (v) => {
    const d = only(log(`${v}-restore-file-missing.excerpt.log`));
    expect(d).toMatchObject({ id: 'file-missing', blame: 'tuple' });
    expect(d.cause).toMatch(/^\/tmp\/cc-open-file-\d+ does not exist where the restore runs\./);
  });

  test.for(VERSIONS)('%s: open file truncated or chmod-ed on the destination: names the file and what differs', (v) => {
    expect(only(log(`${v}-restore-file-truncated.excerpt.log`)).cause).toMatch(/^\/tmp\/cc-open-file-\d+ is 1000 bytes where the restore runs; the checkpoint recorded 65536 \(64536 bytes shorter\)\./);
    const mode = only(log(`${v}-restore-file-chmod.excerpt.log`));
    expect(mode).toMatchObject({ id: 'file-mode-differs', blame: 'tuple' });
    expect(mode.cause).toMatch(/^\/tmp\/cc-open-file-\d+ has mode 0644 where the restore runs; the checkpoint recorded 0600\./);
  });

  test("this machine's CPU → a TCG guest (-cpu max): without --cpu-cap the restore succeeds and the process dies of SIGILL; with --cpu-cap CRIU refuses up front (XSAVES)", () => {
    const sigill = only(log('trixie-4.1.1-host-cpu-to-k6.12-tcg-max-sigill.dmesg.txt'), { cpu: { source: hostCpu, destination: max } });
    expect(sigill.id).toBe('cpu-invalid-opcode');
    expect(sigill.cause).toMatch(/^The destination's CPU lacks xsavec, xsaves, avx512f/);
    expect(sigill.remediation).toMatch(/GLIBC_TUNABLES=glibc\.cpu\.hwcaps=-AVX512F/);
    const refused = only(log('trixie-4.1.1-k6.12-tcg-restore-cpu-cap-fpu-host-cpu-on-max.excerpt.log'), { cpu: { source: hostCpu, destination: max } });
    expect(refused.id).toBe('cpu-features-missing');
    expect(refused.cause).toMatch(/^The destination's CPU \(QEMU TCG CPU version 2\.5\+\) lacks \d+ features the source's \(Intel\(R\) Xeon\(R\) Processor\) offered: xsavec, xsaves, avx512f.* CRIU names: xsaves\./);
  });

  test("a TCG guest's root process restored on this machine: its capabilities exceed what this machine's root holds (no CAP_SYS_RESOURCE)", () => {
    const d = diagnose({ text: log('trixie-4.1.1-host-6.18-restore-from-vm-capabilities.excerpt.log') });
    expect(d.map((x) => x.id)).toEqual(['capabilities-not-restorable', 'rlimit-nofile']);
    expect(d[0]).toMatchObject({ blame: 'tuple', evidence: expect.stringContaining('Unable to restore capabilities: -1') });
    expect(failureStatus(d)).toBe('FAIL');
  });

  test('open file grown on the destination', () => {
    expect(only(log('trixie-4.1.1-k6.12-restore-file-grown.excerpt.log')).cause).toMatch(/is 70000 bytes where the restore runs; the checkpoint recorded 65536 \(4464 bytes longer\)\./);
  });

  test.for(VERSIONS)('%s: files.img whose recorded size was changed (tampered image set): restore refused, diagnosed as a size mismatch that names the image set as a suspect', (v) => {
    const d = only(log(`${v}-restore-files-img-size-tampered.excerpt.log`));
    expect(d.id).toBe('file-size-differs');
    expect(d.cause).toMatch(/is 65536 bytes where the restore runs; the checkpoint recorded 1234 .* or the image set was altered/);
    expect(failureStatus([d])).toBe('FAIL');
  });

  test.for(VERSIONS)("%s: established TCP whose local address the destination lacks: names the address and the playbook's response", (v) => {
    const d = only(log(`${v}-restore-tcp-address-missing.excerpt.log`));
    expect(d).toMatchObject({ id: 'tcp-address-missing', blame: 'tuple' });
    expect(d.cause).toMatch(/^The checkpointed socket's local address 10\.77\.0\.1 \(port \d+, TCP_ESTABLISHED\) is not configured on the destination\./);
    expect(d.remediation).toMatch(/same address and route .* --tcp-close .* clients that reconnect/);
  });

  test('established TCP restored on another node without the network lock (3.17.1 and 4.1.1): reset mid-restore, blamed on the procedure, not the pair', () => {
    for (const f of ['bookworm-3.17.1-k6.1-restore-tcp-from-other-node-no-netlock.excerpt.log', 'trixie-4.1.1-k6.1-restore-tcp-from-other-node-no-netlock.excerpt.log']) {
      const d = diagnose({ text: log(f) }).filter((x) => x.blame !== 'note');
      expect(d.map((x) => x.id)).toEqual(['tcp-netlock-not-on-destination']);
      expect(d[0]!.cause).toMatch(/^The checkpointed socket's local address 127\.0\.0\.1 \(port \d+, TCP_ESTABLISHED\)/);
      expect(failureStatus(d)).toBe('ERROR');
    }
    expect(readFileSync(join(fixtures, 'criu-logs/trixie-4.1.1-k6.12-after-dump-tcp-netlock.iptables-save.txt'), 'utf8')).toMatch(/-j DROP/);
  });

  test("images of CRIU 4.1.1 restored by 3.17.1 and the reverse (kernel 6.1): both pass, nothing to diagnose", () => {
    for (const f of ['bookworm-3.17.1-k6.1-restore-images-of-4.1.1-passes.excerpt.log', 'trixie-4.1.1-k6.1-restore-images-of-3.17.1-passes.excerpt.log']) {
      const text = log(f);
      expect(text).toMatch(/Restore finished successfully/);
      expect(diagnose({ text }).filter((d) => d.blame !== 'note')).toEqual([]);
    }
  });
});

test('every migration signature is loaded from the signature files and has a test on a recording above', () => {
  const body = readFileSync(import.meta.filename, 'utf8');
  const MIGRATION = ['cpu-features-missing', 'cpu-strict-check-refused', 'cpu-invalid-opcode', 'file-missing', 'file-size-differs', 'file-mode-differs', 'tcp-address-missing', 'tcp-netlock-not-on-destination', 'capabilities-not-restorable'];
  const loaded = activeSignatures();
  for (const id of MIGRATION) {
    expect(loaded.filter((s) => s.id === id), id).toHaveLength(1);
    // Once in the list above, at least once in a test.
    expect(body.split(`'${id}'`).length - 1, id).toBeGreaterThanOrEqual(2);
  }
});
