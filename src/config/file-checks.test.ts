import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { checkFile } from './file-checks.ts';
import { loadConfig } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-config-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (...p: string[]) => join(dir, ...p);

/** A usr-merged root as debootstrap makes it: /bin a symlink, etc/os-release a relative symlink. */
function makeRoot(root: string): string {
  for (const d of ['usr/bin', 'usr/lib', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run']) mkdirSync(join(root, d), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  writeFileSync(join(root, 'usr/lib/os-release'), 'PRETTY_NAME="Test"\n');
  symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'));
  return root;
}

// Real files of each kind, made by the tools that make them.
const root = makeRoot(at('root'));
const deb = at('pkg.deb');
mkdirSync(at('pkg/DEBIAN'), { recursive: true });
writeFileSync(at('pkg/DEBIAN/control'), 'Package: cc-test\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: t\n');
execFileSync('dpkg-deb', ['--build', '--root-owner-group', at('pkg'), deb], { stdio: 'ignore' });
const ar = at('plain.a');
execFileSync('ar', ['rc', ar, at('pkg/DEBIAN/control')]);
const tars = { tar: at('root.tar'), gz: at('root.tar.gz'), xz: at('root.tar.xz'), zst: at('root.tar.zst'), bz2: at('root.tar.bz2') };
execFileSync('tar', ['-cf', tars.tar, '-C', root, '.']);
for (const [k, flag] of [['gz', '-z'], ['xz', '-J'], ['zst', '--zstd'], ['bz2', '-j']] as const) execFileSync('tar', [flag, '-cf', tars[k], '-C', root, '.']);
// Bigger than the 64 KiB the check reads: the gzip stream is cut short there.
const bigGz = at('big.tar.gz');
mkdirSync(at('big'));
writeFileSync(at('big/noise'), randomBytes(300_000));
execFileSync('tar', ['-czf', bigGz, '-C', at('big'), '.']);
const gzNotTar = at('text.gz');
execFileSync('sh', ['-c', `echo hello | gzip > ${gzNotTar}`]);
// A bzImage's boot header: "HdrS" at 0x202 (the layout of arch/x86/boot/header.S).
const bzImage = at('vmlinuz-test');
const kernelBytes = Buffer.alloc(0x400);
kernelBytes.write('HdrS', 0x202, 'latin1');
writeFileSync(bzImage, kernelBytes);
const mods = at('modules/6.1.0-test');
mkdirSync(mods, { recursive: true });
writeFileSync(join(mods, 'modules.dep'), '');
const modsNoDep = at('modules-nodep/6.1.0-test');
mkdirSync(join(modsNoDep, 'kernel'), { recursive: true });
mkdirSync(at('empty-dir'));
// An OCI image layout packed as a tar (oci-layout first, as tools write it), and one packed without its layout files.
mkdirSync(at('oci/blobs/sha256'), { recursive: true });
writeFileSync(at('oci/oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
writeFileSync(at('oci/index.json'), '{"schemaVersion":2,"manifests":[]}');
const ociTar = at('image.oci.tar');
execFileSync('tar', ['-cf', ociTar, '-C', at('oci'), 'oci-layout', 'index.json', 'blobs']);
const ociGz = at('image.oci.tar.gz');
execFileSync('tar', ['-czf', ociGz, '-C', at('oci'), 'oci-layout', 'index.json', 'blobs']);
// A container's root: etc/passwd and a bin directory, nothing else a node image needs.
mkdirSync(at('ctr/etc'), { recursive: true });
mkdirSync(at('ctr/bin'));
writeFileSync(at('ctr/etc/passwd'), 'root:x:0:0::/:/bin/sh\n');

describe('files a config names are checked by kind', () => {
  test.for([
    ['deb', deb],
    ['kernel', bzImage],
    ['kernel', process.execPath], // an ELF
    ['modules', mods],
    ['modules', modsNoDep],
    ['rootfs', root],
    ...Object.values(tars).map((t) => ['tarball', t] as const),
    ['tarball', bigGz],
    ['oci-archive', ociTar],
    ['container-rootfs', at('ctr')],
  ] as const)('%s %s is right', async ([kind, file]) => {
    expect(await checkFile(kind, file)).toBeUndefined();
  });

  test.for([
    ['deb', '/nonexistent.deb', /^does not exist$/],
    ['deb', ar, /ar archive but not a Debian package/],
    ['deb', tars.tar, /no "!<arch>" ar magic; it is a tar archive/],
    ['deb', dir, /^is a directory$/],
    ['kernel', '/etc/passwd', /^is neither \(it looks like a text file\)$/],
    ['kernel', deb, /^is neither \(it is an ar archive\)$/],
    ['modules', at('empty-dir'), /has none of modules.dep/],
    ['modules', bzImage, /^is not a directory$/],
    ['rootfs', at('empty-dir'), /lacks \/bin\/sh or \/usr\/bin, etc\/os-release, \/proc, \/sys, \/dev, \/tmp, \/run/],
    ['rootfs', tars.tar, /^is not a directory$/],
    ['tarball', deb, /no "ustar" magic.*it is an ar archive/],
    ['tarball', gzNotTar, /gzip-compressed but holds no tar archive/],
    ['tarball', root, /^is a directory$/],
    ['oci-archive', tars.tar, /tar archive without oci-layout or index.json \(members: etc\/, etc\/os-release/],
    ['oci-archive', ociGz, /gzip-compressed \(an OCI archive is a plain tar/],
    ['oci-archive', deb, /^is not a tar archive \(it is an ar archive\)$/],
    ['container-rootfs', at('empty-dir'), /lacks etc\/passwd .*, bin\/ or usr\/bin\//],
    ['container-rootfs', ociTar, /^is not a directory$/],
  ] as const)('%s %s is wrong', async ([kind, file, re]) => {
    expect(await checkFile(kind, file)).toMatch(re);
  });
});

async function loadError(text: string, name = 'pools.yaml'): Promise<ConfigError> {
  const f = at(name);
  writeFileSync(f, text);
  const t0 = performance.now();
  try {
    await loadConfig(f);
  } catch (e) {
    expect(performance.now() - t0).toBeLessThan(2000);
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loading a config checks its files: path inside the config, line, the file, what was expected', () => {
  test('a missing .deb kernel', async () => {
    const e = await loadError('pools:\n  - name: a\n    kernel: {deb: /nonexistent.deb}\n    image: debian-trixie\n');
    expect(e.message).toBe(
      `${at('pools.yaml')}: at pools[0].kernel.deb (line 3): a Debian package (.deb: an ar archive whose first member is debian-binary), but /nonexistent.deb does not exist`,
    );
  });

  test('/etc/passwd as a vmlinuz, in the third pool', async () => {
    const e = await loadError(
      `pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: b, kernel: host, image: debian-bookworm}\n  - name: c\n    image: debian-trixie\n    kernel:\n      vmlinuz: /etc/passwd\n      modules: ${mods}\n`,
    );
    expect(e).toMatchObject({ path: 'pools[2].kernel.vmlinuz', line: 7 });
    expect(e.expected).toMatch(/^a kernel image \(a bzImage, with "HdrS" at offset 0x202, or an ELF vmlinux\), but \/etc\/passwd is neither/);
  });

  test('image rootfs and tarball, JSON too', async () => {
    const r = await loadError(JSON.stringify({ images: { mine: { rootfs: at('empty-dir') } }, pools: [{ name: 'a', kernel: 'host', image: 'mine' }] }, null, 2), 'p.json');
    expect(r).toMatchObject({ path: 'images.mine.rootfs', line: 4 });
    const t = await loadError(`images:\n  mine: {tarball: ${deb}}\npools:\n  - {name: a, kernel: host, image: mine}\n`);
    expect(t).toMatchObject({ path: 'images.mine.tarball', line: 2 });
  });

  test("a container pilot's rootfs and archive: checked at their path under pilots, relative to the file", async () => {
    const pilot = (c: string) => `pools:\n  - {name: a, kernel: host, image: debian-trixie}\npilots:\n  - name: svc\n    pools: [a]\n    service:\n      container: ${c}\n    ready: {tcp: {port: 7000}}\n`;
    const r = await loadError(pilot(`{rootfs: ${at('empty-dir')}, command: [/bin/x]}`));
    expect(r).toMatchObject({ path: 'pilots[0].service.container.rootfs', expected: expect.stringMatching(/container's root filesystem directory.*lacks etc\/passwd/) });
    const a = await loadError(pilot(`{archive: ./nope.tar, runtime: podman, command: [/bin/x]}`));
    expect(a).toMatchObject({ path: 'pilots[0].service.container.archive', expected: expect.stringMatching(new RegExp(`OCI image archive.*but ${at('nope.tar')} does not exist`)) });
    const f = at('ctr.yaml');
    writeFileSync(f, pilot('{archive: image.oci.tar, command: [/bin/x]}'));
    const { config } = await loadConfig(f);
    expect(config.pilots[0]!.service).toEqual({ container: { archive: ociTar, runtime: 'runc', command: ['/bin/x'], user: 'root' } });
  });

  test('relative paths are taken from the config file’s directory, and come out absolute', async () => {
    const f = at('rel.yaml');
    writeFileSync(f, 'images:\n  mine: {tarball: root.tar.xz}\n  dir: {rootfs: ./root}\npools:\n  - {name: a, kernel: {vmlinuz: vmlinuz-test, modules: modules/6.1.0-test}, image: mine}\n  - {name: b, kernel: {deb: ./pkg.deb}, image: dir}\n');
    const { config, images } = await loadConfig(f);
    expect(images.mine).toMatchObject({ tarball: tars.xz });
    expect(images.dir).toMatchObject({ rootfs: root });
    expect(config.pools[0]!.kernel).toEqual({ vmlinuz: bzImage, modules: mods });
    expect(config.pools[1]!.kernel).toEqual({ deb });
  });
});
