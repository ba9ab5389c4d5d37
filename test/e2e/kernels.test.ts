/**
 * Kernels from any Debian suite, for real: sid's split kernel (linux-image →
 * linux-binary + linux-modules + linux-base) resolves, unpacks and boots far
 * enough to run `criu check`; the testing suite (its codename read from the
 * archive's Release file), unstable and the backports suites resolve to a
 * bootable kernel with modules.dep; a suite the mirror lacks is a clear
 * KernelError before anything is downloaded. And the KVM/TCG memo keeps only
 * real probe verdicts: a bogus kernel decides nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { accelMemoFile, chooseAccel } from '../../src/environments/qemu/accel.ts';
import { pickDebianMirror, readAptSources } from '../../src/host/apt-sources.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { parseRelease } from '../../src/kernels/debian-suites.ts';
import { type Kernel, resolveKernel } from '../../src/kernels/kernel.ts';
import { PrivateApt } from '../../src/kernels/private-apt.ts';
import { RunResults } from '../../src/results/schema.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { cli, harnessProcesses, tempDir } from './harness.ts';

const cacheDir = defaultCacheDir();
const opts = { cacheDir, timeoutMs: 600_000 };

/** The mirror the harness uses here: the machine's own apt sources (or CRIU_COMPAT_MIRROR), never a name written in this file. */
async function mirror(): Promise<string> {
  const m = process.env.CRIU_COMPAT_MIRROR || pickDebianMirror(await readAptSources());
  if (!m) throw new Error('no Debian mirror in this machine\'s apt sources');
  return m.replace(/\/$/, '');
}

/** A Release file's Suite and Codename, fetched with apt's own downloader. */
async function release(suite: string): Promise<{ suite: string; codename: string }> {
  const file = join(tempDir('criu-compat-release-'), 'Release');
  execFileSync('/usr/lib/apt/apt-helper', ['download-file', `${await mirror()}/dists/${suite}/Release`, file], { stdio: 'ignore' });
  return parseRelease(readFileSync(file, 'utf8'))!;
}

/** What makes a kernel bootable here: a bzImage, modules.dep naming the modules CRIU needs. */
function expectBootable(k: Kernel): void {
  expect(readFileSync(k.vmlinuz).subarray(0x202, 0x206).toString('latin1')).toBe('HdrS'); // bzImage header magic
  const dep = readFileSync(join(k.modulesDir, 'modules.dep'), 'utf8');
  expect(dep).toMatch(/\/netlink_diag\.ko(\.xz)?:/);
  expect(dep).toMatch(/\/nf_tables\.ko(\.xz)?:/);
  expect(k.configFile && readFileSync(k.configFile, 'utf8')).toMatch(/^CONFIG_CHECKPOINT_RESTORE=y$/m);
}

describe('kernels from any Debian suite', () => {
  test('debian/sid (a split kernel) resolves from the archive, boots in a VM and runs criu check: no setup ERROR, the guest runs sid\'s kernel', async () => {
    // What sid's linux-image-amd64 is today, asked of apt directly.
    const apt = new PrivateApt(cacheDir, await mirror(), 'sid');
    await apt.update(24 * 3600_000, 600_000);
    const meta = await apt.show('linux-image-amd64', undefined, 60_000);
    const upstream = meta.version.replace(/-[^-]*$/, ''); // 7.2.13-1 → 7.2.13

    const k = await resolveKernel('debian/sid', opts);
    expect(k.release.startsWith(upstream)).toBe(true);
    // The parts that hold vmlinuz and the modules were found by following Depends, and all of them are in the key.
    expect(k.origin).toMatch(/linux-binary-\S+ /);
    expect(k.origin).toMatch(/linux-modules-\S+ /);
    expectBootable(k);
    // debian/unstable is the same suite: the same packages, so the same cache entry (content-based key).
    const unstable = await resolveKernel('debian/unstable', opts);
    expect(unstable.key).toBe(k.key);
    expect(unstable.built).toBe(false);

    const dir = tempDir('criu-compat-cfg-');
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(cfg, ['pools:', '  - name: k-sid', '    kernel: debian/sid', '    image: debian-trixie', '    vm: {memoryMiB: 1024}', 'settings:', '  suites: [criu-check]', ''].join('\n'));
    const out = tempDir('criu-compat-e2e-');
    const child = cli(['run', '--config', cfg, '--cache-dir', cacheDir, '--out', out, '--no-progress']);
    const r = await child;
    const runs = readdirSync(out).sort();
    const res = RunResults.parse(JSON.parse(readFileSync(join(out, runs[runs.length - 1]!, 'results.json'), 'utf8')));
    const setup = res.cells.filter((c) => c.check === 'setup' || c.suite === 'harness');
    expect(setup, r.all).toEqual([]);
    const pool = res.pools[0]!;
    expect(pool.kernel).toBe('debian/sid');
    expect(pool.inventory!.kernelRelease).toBe(k.release);
    expect(pool.inventory!.kernelRelease.startsWith(upstream)).toBe(true);
    // criu check ran in the guest and said something (its verdict is whatever trixie's CRIU says on this kernel).
    const version = res.cells.find((c) => c.suite === 'criu-check' && c.check === 'version')!;
    expect(version.status, version.reason).toBe('PASS');
    const check = res.cells.find((c) => c.suite === 'criu-check' && c.check === 'check')!;
    expect(['PASS', 'FAIL'], `${check.status}: ${check.reason}`).toContain(check.status);
    // Its VM is gone (other runs on this machine may have theirs).
    expect(harnessProcesses().filter((p) => p.includes(`criu-compat-vm-${child.pid}-`))).toEqual([]);
  }, 1_200_000);

  test('the testing suite, by the codename its Release file gives and as "testing": the same kernel, bootable', async () => {
    const { suite, codename } = await release('testing');
    expect(suite).toBe('testing');
    expect(codename).toMatch(/^[a-z]+$/);
    const byName = await resolveKernel(`debian/${codename}`, opts);
    expectBootable(byName);
    const byAlias = await resolveKernel('debian/testing', opts);
    expect(byAlias.key).toBe(byName.key);
    expect(byAlias.release).toBe(byName.release);
  }, 1_200_000);

  test.each(['trixie-backports', 'bookworm-backports'])('debian/%s resolves to a bootable kernel', async (suite) => {
    const k = await resolveKernel(`debian/${suite}`, opts);
    expect(k.label).toBe(`debian/${suite}`);
    expectBootable(k);
  }, 1_200_000);

  test('a suite the mirror does not have: a KernelError naming it and the suites the mirror serves, nothing downloaded', async () => {
    // A cache of its own: the shared one fills with other runs' kernels meanwhile.
    const own = tempDir('criu-compat-cache-');
    const t0 = performance.now();
    const err = await resolveKernel('debian/no-such-suite', { cacheDir: own, timeoutMs: 600_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('KernelError');
    const msg = (err as Error).message;
    expect(msg).toMatch(/^kernel debian\/no-such-suite: Debian suite "no-such-suite" is not at \S+ \(no dists\/no-such-suite\/Release\); it serves /);
    // The served suites come from the archive itself: the testing codename its Release names is among them.
    const { codename } = await release('testing');
    expect(msg).toContain(`${codename} (testing)`);
    expect(msg).toMatch(/sid \(unstable\)/);
    expect(performance.now() - t0).toBeLessThan(30_000);
    // No kernel fetched, and the suite's apt directory went with the error.
    expect(existsSync(join(own, 'kernels'))).toBe(false);
    const apt = readdirSync(join(own, 'apt'));
    expect(apt).toHaveLength(1);
    expect(readdirSync(join(own, 'apt', apt[0]!, 'dists'))).toEqual([]);
  }, 120_000);
});

describe('the KVM/TCG memo', () => {
  test.skipIf(!existsSync('/dev/kvm'))('a bogus kernel (QEMU exits at once) decides nothing: TCG for this run only, saying so, and no memo written', async () => {
    const natives = await buildNatives(cacheDir, []);
    const probeCache = tempDir('criu-compat-accel-');
    const t0 = performance.now();
    const workDir = tempDir('criu-compat-vm-');
    const choice = await chooseAccel('auto', { vmlinuz: '/etc/passwd', agent: natives.agent, guard: natives.guard, cacheDir: probeCache, workDir });
    expect(choice.accel).toBe('tcg');
    expect(choice.why).toMatch(/^tcg: the KVM probe could not decide: QEMU exited after \d+\.\d s before the guest reached its agent: .*; TCG for this run only, nothing remembered$/);
    expect(choice.why).not.toMatch(/did not finish within/);
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(existsSync(accelMemoFile(probeCache))).toBe(false);
    // Asked again, it probes again (nothing was remembered) and says the same.
    const again = await chooseAccel('auto', { vmlinuz: '/etc/passwd', agent: natives.agent, guard: natives.guard, cacheDir: probeCache, workDir });
    expect(again.why).toMatch(/could not decide/);
    expect(existsSync(accelMemoFile(probeCache))).toBe(false);
    // The probe's QEMU and its directory are gone (other runs on this machine may have VMs of their own).
    expect(harnessProcesses().filter((p) => p.includes(workDir))).toEqual([]);
    expect(readdirSync(workDir)).toEqual([]);
  }, 120_000);
});
