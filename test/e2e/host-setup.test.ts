/**
 * `criu-compat setup` on a fresh Debian: a debootstrapped trixie root with
 * nothing but apt (minbase), entered with chroot in a mount namespace of its
 * own, with this checkout and its Node at the same paths as on the host. The
 * real apt-get installs from the Debian mirror the root's sources name.
 */
import { execa } from 'execa';
import { copyFileSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { CLI, ROOT, tempDir } from './harness.ts';

let root = '';
const cacheDir = process.env.CRIU_COMPAT_CACHE || defaultCacheDir();

/** Runs the CLI inside the fresh root (as root, or as nobody) and returns its exit code and output. */
async function inRoot(args: string[], opts: { user?: string; env?: Record<string, string> } = {}) {
  const modules = realpathSync(join(ROOT, 'node_modules'));
  const binds = [ROOT, ...(modules.startsWith(`${ROOT}/`) ? [] : [modules])];
  // The root's /tmp first: a checkout under the host's /tmp (a CI clone) is bound below it, not hidden by it.
  const script = [
    'set -e',
    'mount -t tmpfs tmpfs "$R/tmp"',
    ...binds.map((d) => `mkdir -p "$R${d}" && mount --bind "${d}" "$R${d}" && mount -o remount,bind,ro "$R${d}"`),
    'mount -t proc proc "$R/proc"',
    'mount --rbind /dev "$R/dev"',
    `exec chroot ${opts.user ? `--userspec=${opts.user} ` : ''}"$R" "$@"`,
  ].join('\n');
  const r = await execa('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', process.execPath, CLI, ...args], {
    reject: false,
    env: { R: root, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', NO_COLOR: '1', ...opts.env },
    extendEnv: false,
    timeout: 20 * 60_000,
  });
  return { code: r.exitCode, out: `${r.stdout}\n${r.stderr}`.trim(), stderr: r.stderr.trim(), ms: r.durationMs };
}

const dpkgStatus = () => readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
const installed = (pkg: string) => new RegExp(`^Package: ${pkg.replace(/[+.]/g, '\\$&')}\\nStatus: install ok installed$`, 'm').test(dpkgStatus());

beforeAll(async () => {
  // Debian trixie minbase: the same recipe as a node image with no extra package (cached by content).
  const base = await resolveImage('fresh-trixie', { debootstrap: { suite: 'trixie', include: [] } }, { cacheDir, buildTimeoutMs: 900_000 });
  root = join(tempDir('criu-compat-fresh-'), 'root');
  await execa('cp', ['-a', base.rootfs, root]);
  copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
}, 20 * 60_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('setup on a fresh Debian root (nothing but apt)', () => {
  test('--no-install lists everything missing with the install line, installs nothing, exit 2', async () => {
    const before = dpkgStatus();
    const r = await inRoot(['setup', '--no-install']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^criu-compat: missing on this machine for the embedded default \(\d+ pools\): .*debootstrap \(builds the node images\).*qemu-system-x86_64/);
    expect(r.stderr).toMatch(/install them with: apt-get install --no-install-recommends .*gcc.*libc6-dev.*debootstrap.*qemu-system-x86.*cpio.*kmod/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(dpkgStatus()).toBe(before);
    // The environment variable does the same, and run refuses with the same list before any work.
    const env = await inRoot(['setup'], { env: { CRIU_COMPAT_NO_INSTALL: '1' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('install them with:');
    const run = await inRoot(['run', '--out', '/tmp/reports', '--cache-dir', '/var/cache/criu-compat']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^criu-compat: missing on this machine/);
    expect(run.out).not.toMatch(/ERROR|ENOENT/);
    expect(dpkgStatus()).toBe(before);
  });

  test('not root: one line, exit 2', async () => {
    const r = await inRoot(['setup', '--cache-dir', '/tmp/cache'], { user: 'nobody:nogroup' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^criu-compat: setup: installing gcc libc6-dev debootstrap \S.* needs root: run it as root \(sudo\), or install them yourself \(apt-get install --no-install-recommends gcc libc6-dev debootstrap .*\)$/);
    // doctor, which installs nothing, lists it all.
    const d = await inRoot(['doctor', '--cache-dir', '/tmp/cache'], { user: 'nobody:nogroup' });
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/^criu-compat: missing on this machine for the embedded default \(\d+ pools\): root — run it as root, e\.g\. with sudo, cc \(/);
  });

  test('no package manager: one line naming what to install by hand, exit 2', async () => {
    const aptGet = join(root, 'usr/bin/apt-get');
    renameSync(aptGet, `${aptGet}.away`);
    try {
      const r = await inRoot(['setup', '--pool', 'host-trixie']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^criu-compat: setup: no apt-get on Debian GNU\/Linux .*; install by hand what provides: cc, libc\.a, debootstrap$/);
    } finally {
      renameSync(`${aptGet}.away`, aptGet);
    }
  });

  test('an archive that cannot be reached: one line, nothing installed, exit 2', async () => {
    const sources = join(root, 'etc/apt/sources.list');
    const kept = readFileSync(sources, 'utf8');
    const before = dpkgStatus();
    writeFileSync(sources, 'deb http://mirror.example.invalid/debian trixie main\n');
    rmSync(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
    mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    try {
      const r = await inRoot(['setup', '--pool', 'host-trixie']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^criu-compat: setup: apt-get failed while checking that the archive has gcc libc6-dev debootstrap: E: Unable to locate package gcc .*\(after apt-get update said: .*mirror\.example\.invalid.*\); nothing was installed$/);
      expect(dpkgStatus()).toBe(before);
    } finally {
      writeFileSync(sources, kept);
    }
  });

  test('installs exactly what is missing, pool by pool; a second call installs nothing in under a second', async () => {
    // A namespace pool needs the compiler and debootstrap only.
    const first = await inRoot(['setup', '--pool', 'host-trixie']);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/^setup: installing gcc \(compiles the static workloads, probes and helpers\), libc6-dev \(static linking of the workloads\), debootstrap \(builds the node images\) with apt-get$/m);
    for (const p of ['gcc', 'libc6-dev', 'debootstrap']) expect(installed(p), p).toBe(true);
    expect(installed('qemu-system-x86')).toBe(false);

    // The whole default adds the VM tools and leaves the compiler alone.
    const second = await inRoot(['setup']);
    expect(second.code, second.out).toBe(0);
    const line = /^setup: installing (.*) with apt-get$/m.exec(second.out)?.[1] ?? '';
    expect(line).toMatch(/qemu-system-x86 \(boots the VM pools\)/);
    expect(line).toMatch(/cpio/);
    expect(line).toMatch(/kmod \(indexes the modules of Debian kernel packages\)/);
    expect(line).not.toMatch(/gcc|libc6-dev|debootstrap/);
    for (const p of ['qemu-system-x86', 'cpio', 'kmod']) expect(installed(p), p).toBe(true);

    const third = await inRoot(['setup']);
    expect(third.code).toBe(0);
    expect(third.out).toMatch(/^setup: nothing to install; ready for the embedded default \(\d+ pools\)$/);
    expect(third.ms).toBeLessThan(1000);

    const doctor = await inRoot(['doctor']);
    expect(doctor.code, doctor.out).toBe(0);
    expect(doctor.out).toMatch(/everything the selection needs is present/);
  });
});
