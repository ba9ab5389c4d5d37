/**
 * The qemu backend for real: a Debian kernel booted in QEMU with a node image
 * as its root, suites run through the guest agent; a warm second run spends
 * nothing on provisioning; guests that never come up become ERROR cells with
 * the console tail while the other pools go on; a guest that dies mid-command
 * is reported with its console; Ctrl-C leaves no VM behind.
 */
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { chooseAccel } from '../../src/environments/qemu/accel.ts';
import { openVmSession } from '../../src/environments/qemu/vm-session.ts';
import { QemuMachine, channelSocket } from '../../src/environments/qemu/qemu-machine.ts';
import { buildGuestRoot } from '../../src/images/guest-root.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { resolveKernel } from '../../src/kernels/kernel.ts';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, waitFor, workDirsOf, tempDir } from './harness.ts';

function writeConfig(lines: string[]): string {
  const dir = tempDir('criu-compat-cfg-');
  const file = join(dir, 'pools.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function readResults(out: string): RunResults {
  const runs = readdirSync(out).sort();
  return RunResults.parse(JSON.parse(readFileSync(join(out, runs[runs.length - 1]!, 'results.json'), 'utf8')));
}

const vmsRunning = () => harnessProcesses().filter((p) => /qemu-system/.test(p));

describe('qemu backend', () => {
  test('a Debian 6.12 kernel in a VM: a real round trip PASSes, inventory names the accelerator; warm rerun provisions nothing; artifacts kept root-only', async () => {
    const cfg = writeConfig([
      'pools:',
      '  - name: vm-trixie',
      '    kernel: debian/trixie',
      '    image: debian-trixie',
      '    vm: {memoryMiB: 1024}',
      'settings:',
      '  workloads: [counter]',
      '  suites: [round-trip]',
    ]);
    const out = tempDir('criu-compat-e2e-');
    const first = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
    expect(first.exitCode, first.all).toBe(0);
    const second = await cli(['run', '--config', cfg, '--out', out, '--no-progress', '--keep-artifacts']);
    expect(second.exitCode, second.all).toBe(0);
    const res = readResults(out);
    const pool = res.pools[0]!;
    expect(pool.backend).toBe('qemu');
    expect(pool.kernel).toBe('debian/trixie');
    expect(pool.inventory!.kernelRelease).toMatch(/^6\.12\./);
    expect(pool.inventory!.kernelConfig!.CONFIG_MEM_SOFT_DIRTY).toBe('y');
    expect(['kvm', 'tcg']).toContain(pool.inventory!.vm!.accelerator);
    expect(pool.inventory!.vm!.acceleratorReason).toMatch(/^(kvm|tcg): /);
    if (pool.inventory!.vm!.accelerator === 'tcg') expect(pool.inventory!.vm!.acceleratorReason).toMatch(/tcg,thread=single: all vCPUs in one host thread$/);
    // Warm cache: the kernel, node image and guest root come from the cache.
    expect(pool.image!.builtThisRun).toBe(false);
    expect(pool.phases!.provisionMs).toBeLessThan(5000);
    expect(pool.phases!.bootMs).toBeGreaterThan(0);
    const counter = res.cells.find((c) => c.check === 'counter')!;
    expect(counter.status, counter.reason).toBe('PASS');
    expect(counter.metrics.criuDump!.frozenTimeUs).toBeGreaterThan(0);
    // --keep-artifacts copied the images out of the guest: 0700 directories, 0600 files.
    expect(statSync(counter.artifacts!).mode & 0o777).toBe(0o700);
    const img = join(counter.artifacts!, 'img');
    const pages = readdirSync(img).filter((f) => f.startsWith('pages-'));
    expect(pages.length).toBeGreaterThan(0);
    for (const f of pages) expect(statSync(join(img, f)).mode & 0o777).toBe(0o600);
    expect(vmsRunning()).toEqual([]);
  }, 600_000);

  test('guests that never come up are ERROR with their console tail; the other pools go on', async () => {
    const cacheDir = defaultCacheDir();
    const k = await resolveKernel('debian/bookworm', { cacheDir, timeoutMs: 600_000 });
    // Its modules directory without any module: on 6.1 virtio_console is a module, so the agent finds no channel.
    const base = tempDir('criu-compat-kernel-');
    const mods = join(base, k.release);
    mkdirSync(mods);
    writeFileSync(join(mods, 'modules.dep'), '');
    const cfg = writeConfig([
      'pools:',
      '  - name: no-channel',
      '    kernel: {vmlinuz: ' + k.vmlinuz + ', modules: ' + mods + '}',
      '    image: debian-trixie',
      '    vm: {memoryMiB: 1024}',
      '  - name: host-ok',
      '    kernel: host',
      '    image: debian-trixie',
      '    criu: {env: {CRIU_FAULT: "130"}}',
      'settings:',
      '  workloads: [counter]',
      '  suites: [round-trip]',
    ]);
    const out = tempDir('criu-compat-e2e-');
    const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
    expect(r.exitCode, r.all).toBe(2);
    const res = readResults(out);
    const cell = (pool: string) => res.cells.find((c) => c.pool === pool)!;
    expect(cell('host-ok').status).toBe('PASS');
    expect(cell('no-channel')).toMatchObject({ status: 'ERROR', check: 'setup' });
    expect(cell('no-channel').reason).toMatch(/BootError: no-channel: QEMU exited during boot/);
    expect(cell('no-channel').logExcerpt.join('\n')).toMatch(/no virtio-serial port named cc\./);
    // A file that is not a kernel never gets this far: loading the config refuses it (test/e2e/bad-input.test.ts).
    expect(vmsRunning()).toEqual([]);
  }, 600_000);

  test('a guest that dies in the middle of a command: the error says the VM is gone and shows its console (a kernel panic)', async () => {
    const cacheDir = defaultCacheDir();
    const natives = await buildNatives(cacheDir, ['counter']);
    const kernel = await resolveKernel('debian/bookworm', { cacheDir, timeoutMs: 600_000 });
    const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
    const root = await buildGuestRoot(kernel, image, natives.agent, [], { cacheDir, timeoutMs: 600_000 });
    const dir = join(tempDir('criu-compat-vm-'), 'vm');
    const accel = await chooseAccel('auto', { vmlinuz: kernel.vmlinuz, agent: natives.agent, guard: natives.guard, cacheDir, workDir: `${dir}-probe` });
    const m = await QemuMachine.start({ id: 'dies', vmlinuz: kernel.vmlinuz, initrd: root.initrd, memoryMiB: 1024, cpus: 1, accel: accel.accel, channels: 2, dir, guard: natives.guard, bootTimeoutMs: 180_000 });
    try {
      const env = await openVmSession({ id: 'dies/s', socket: channelSocket(dir, 1), session: 's', timeoutMs: 30_000 });
      const long = env.exec(['sleep', '120'], { timeoutMs: 150_000 });
      const panic = env.exec(['sh', '-c', 'sleep 1; echo c > /proc/sysrq-trigger'], { timeoutMs: 150_000 });
      const settled = await Promise.allSettled([long, panic]);
      for (const r of settled) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/dies\/s: channel to the guest closed; the VM is gone \(QEMU exited\); guest console: [^|]*Kernel panic[^|]*sysrq/);
      }
      // Later requests fail the same way, at once.
      await expect(env.exec(['true'], { timeoutMs: 10_000 })).rejects.toThrow(/the VM is gone \(QEMU exited\)/);
      expect(await waitFor(() => !m.alive, 10_000)).toBe(true);
    } finally {
      await m.dispose();
    }
    expect(vmsRunning()).toEqual([]);
  }, 600_000);

  test('Ctrl-C while a VM runs: exit 130, QEMU gone, its directory gone', async () => {
    const cfg = writeConfig(['pools:', '  - name: vm-bookworm', '    kernel: debian/bookworm', '    image: debian-bookworm', '    vm: {memoryMiB: 1024}', 'settings:', '  suites: [criu-check]']);
    const out = tempDir('criu-compat-e2e-');
    const child = cli(['run', '--config', cfg, '--out', out, '--no-progress']);
    expect(await waitFor(() => vmsRunning().length > 0, 120_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, r.all).toBe(130);
    expect(vmsRunning()).toEqual([]);
    expect(workDirsOf(child.pid!)).toEqual([]);
  }, 300_000);
});
