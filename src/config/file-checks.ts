import { lstat, open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { ConfigError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import type { Config } from './schema.ts';

/**
 * The files a config names — kernel packages, kernel images and their
 * modules, root filesystem directories, tarballs — checked when the config
 * is loaded, before anything is compiled, built or booted: each exists and
 * is of the right kind, judged by its magic bytes or layout. A wrong one is
 * a ConfigError naming the path inside the config and what was expected.
 */

export type FileKind = 'deb' | 'kernel' | 'modules' | 'rootfs' | 'tarball' | 'oci-archive' | 'container-rootfs';

export interface NamedFile {
  /** Where the config names it, e.g. ['pools', 2, 'kernel', 'vmlinuz']. */
  path: (string | number)[];
  kind: FileKind;
  /** Absolute. */
  file: string;
}

const EXPECTED: Record<FileKind, string> = {
  deb: 'a Debian package (.deb: an ar archive whose first member is debian-binary)',
  kernel: 'a kernel image (a bzImage, with "HdrS" at offset 0x202, or an ELF vmlinux)',
  modules: "a kernel's modules directory (lib/modules/RELEASE with modules.dep, or with modules.order or kernel/ for depmod)",
  rootfs: 'a root filesystem directory (with /bin/sh or /usr/bin, etc/os-release and the mount points /proc /sys /dev /tmp /run)',
  tarball: 'a tar archive of a root filesystem (tar, or tar compressed with gzip, xz, zstd or bzip2)',
  'oci-archive': 'a local OCI image archive (an uncompressed tar holding oci-layout, index.json and blobs/sha256/…)',
  'container-rootfs': "a container's root filesystem directory (with the service's command in it, and etc/passwd naming its user)",
};

/** Makes every file path in the config absolute, relative paths taken from BASE_DIR (the config file's directory). */
export function resolveConfigPaths(config: Config, baseDir: string): void {
  config.settings.signatures = config.settings.signatures.map((f) => resolve(baseDir, f));
  for (const spec of Object.values(config.images)) {
    if ('rootfs' in spec) spec.rootfs = resolve(baseDir, spec.rootfs);
    if ('tarball' in spec) spec.tarball = resolve(baseDir, spec.tarball);
  }
  for (const pilot of config.pilots) {
    if (!('container' in pilot.service)) continue;
    const c = pilot.service.container;
    if (c.archive) c.archive = resolve(baseDir, c.archive);
    if (c.rootfs) c.rootfs = resolve(baseDir, c.rootfs);
  }
  for (const pool of config.pools) {
    const k = pool.kernel;
    if (typeof k !== 'object') continue;
    if ('deb' in k) k.deb = resolve(baseDir, k.deb);
    if ('vmlinuz' in k) {
      k.vmlinuz = resolve(baseDir, k.vmlinuz);
      k.modules = resolve(baseDir, k.modules);
    }
  }
}

/** Every file the config names, in the order of the file (images, then pools). */
export function namedFiles(config: Config): NamedFile[] {
  const out: NamedFile[] = [];
  for (const [name, spec] of Object.entries(config.images)) {
    if ('rootfs' in spec) out.push({ path: ['images', name, 'rootfs'], kind: 'rootfs', file: spec.rootfs });
    if ('tarball' in spec) out.push({ path: ['images', name, 'tarball'], kind: 'tarball', file: spec.tarball });
  }
  config.pools.forEach((pool, i) => {
    const k = pool.kernel;
    if (typeof k !== 'object') return;
    if ('deb' in k) out.push({ path: ['pools', i, 'kernel', 'deb'], kind: 'deb', file: k.deb });
    if ('vmlinuz' in k) {
      out.push({ path: ['pools', i, 'kernel', 'vmlinuz'], kind: 'kernel', file: k.vmlinuz });
      out.push({ path: ['pools', i, 'kernel', 'modules'], kind: 'modules', file: k.modules });
    }
  });
  config.pilots.forEach((pilot, i) => {
    if (!('container' in pilot.service)) return;
    const c = pilot.service.container;
    if (c.archive) out.push({ path: ['pilots', i, 'service', 'container', 'archive'], kind: 'oci-archive', file: c.archive });
    if (c.rootfs) out.push({ path: ['pilots', i, 'service', 'container', 'rootfs'], kind: 'container-rootfs', file: c.rootfs });
  });
  return out;
}

/** Checks every named file; the first wrong one is a ConfigError of CONFIG_FILE at its path (and line, when LINE_OF knows it). */
export async function checkConfigFiles(config: Config, configFile: string, lineOf?: (path: readonly PropertyKey[]) => number | undefined): Promise<void> {
  const files = namedFiles(config);
  const problems = await Promise.all(files.map((f) => checkFile(f.kind, f.file)));
  const i = problems.findIndex((p) => p !== undefined);
  if (i < 0) return;
  const f = files[i]!;
  const where = f.path.map((p, j) => (typeof p === 'number' ? `[${p}]` : j ? `.${p}` : p)).join('');
  throw new ConfigError(configFile, escapeControl(where), `${EXPECTED[f.kind]}, but ${escapeControl(f.file)} ${problems[i]}`, lineOf?.(f.path));
}

/** What is wrong with FILE as a KIND ("does not exist", "is a directory", …), or undefined when it is right. */
export async function checkFile(kind: FileKind, file: string): Promise<string | undefined> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) return st.code === 'ENOENT' || st.code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${st.code ?? st.message})`;
  const wantDir = kind === 'modules' || kind === 'rootfs' || kind === 'container-rootfs';
  if (wantDir && !st.isDirectory()) return 'is not a directory';
  if (!wantDir && !st.isFile()) return st.isDirectory() ? 'is a directory' : 'is not a regular file';
  if (kind === 'modules') return checkModulesDir(file);
  if (kind === 'rootfs') return checkRootfs(file);
  if (kind === 'container-rootfs') return checkContainerRootfs(file);
  const head = await readHead(file, 64 * 1024).catch((e: NodeJS.ErrnoException) => e);
  if (head instanceof Error) return `cannot be read (${head.code ?? head.message})`;
  if (kind === 'deb') return checkDeb(head);
  if (kind === 'kernel') return checkKernel(head);
  if (kind === 'oci-archive') return checkOciArchive(head);
  return checkTar(head);
}

async function readHead(file: string, max: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function checkDeb(b: Buffer): string | undefined {
  if (b.subarray(0, 8).toString('latin1') !== '!<arch>\n') return `is not one (no "!<arch>" ar magic; ${looksLike(b)})`;
  if (!b.subarray(8, 24).toString('latin1').startsWith('debian-binary')) return 'is an ar archive but not a Debian package (its first member is not debian-binary)';
  return undefined;
}

function checkKernel(b: Buffer): string | undefined {
  if (b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return undefined;
  if (b.length >= 0x206 && b.subarray(0x202, 0x206).toString('latin1') === 'HdrS') return undefined;
  return `is neither (${looksLike(b)})`;
}

const COMPRESSED: [string, number[]][] = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

function isUstar(b: Buffer): boolean {
  return b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
}

/**
 * An OCI archive: a plain tar whose members include oci-layout or index.json
 * (the tar headers in the first 64 KiB are read; a layout member beyond them
 * is given the benefit of the doubt, and unpacking checks it again).
 */
function checkOciArchive(b: Buffer): string | undefined {
  if (!isUstar(b)) return b[0] === 0x1f && b[1] === 0x8b ? 'is gzip-compressed (an OCI archive is a plain tar: gunzip it first)' : `is not a tar archive (${looksLike(b)})`;
  const names: string[] = [];
  let cut = false;
  for (let off = 0; ; ) {
    if (off + 512 > b.length) {
      cut = b.length === 64 * 1024; // the head ended inside the archive: its later members were not seen
      break;
    }
    const name = b.subarray(off, off + 100).toString('latin1').replace(/\0.*$/s, '');
    if (!name) break;
    names.push(name.replace(/^\.\//, ''));
    const size = parseInt(b.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  if (names.some((n) => n === 'oci-layout' || n === 'index.json')) return undefined;
  return cut ? undefined : `is a tar archive without oci-layout or index.json (members: ${names.filter(Boolean).slice(0, 5).join(', ') || 'none'}): not an OCI image layout`;
}

function checkTar(b: Buffer): string | undefined {
  if (isUstar(b)) return undefined;
  if (b[0] === 0x1f && b[1] === 0x8b) {
    // gzip: the start of the stream is enough to see the tar header inside.
    let inner: Buffer;
    try {
      inner = gunzipSync(b, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (e) {
      return `is gzip data that does not decompress (${(e as Error).message})`;
    }
    return isUstar(inner) ? undefined : 'is gzip-compressed but holds no tar archive (no "ustar" magic at offset 257 inside)';
  }
  for (const [, magic] of COMPRESSED) if (b.length >= magic.length && b.subarray(0, magic.length).equals(Buffer.from(magic))) return undefined;
  return `is not one (no "ustar" magic at offset 257, and not gzip, xz, zstd or bzip2; ${looksLike(b)})`;
}

/** A word on what a wrong file seems to be, from its first bytes. */
function looksLike(b: Buffer): string {
  if (!b.length) return 'the file is empty';
  if (b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return 'it is an ELF file';
  if (b.subarray(0, 8).toString('latin1') === '!<arch>\n') return 'it is an ar archive';
  if (isUstar(b)) return 'it is a tar archive';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'it is gzip data';
  const sample = b.subarray(0, 4096);
  const text = !sample.includes(0) && Buffer.from(sample.toString('utf8'), 'utf8').equals(sample);
  return text ? 'it looks like a text file' : 'its first bytes are not a known format';
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function checkModulesDir(dir: string): Promise<string | undefined> {
  if (await exists(join(dir, 'modules.dep'))) return undefined;
  if ((await exists(join(dir, 'modules.order'))) || (await isDir(join(dir, 'kernel')))) return undefined; // depmod makes modules.dep
  return 'has none of modules.dep, modules.order, kernel/';
}

async function checkContainerRootfs(dir: string): Promise<string | undefined> {
  const lacks: string[] = [];
  if (!(await exists(join(dir, 'etc/passwd')))) lacks.push('etc/passwd (the container user is looked up there)');
  if (!(await exists(join(dir, 'bin/sh'))) && !(await isDir(join(dir, 'usr/bin'))) && !(await isDir(join(dir, 'bin')))) lacks.push('bin/ or usr/bin/');
  return lacks.length ? `lacks ${lacks.join(', ')}` : undefined;
}

async function checkRootfs(dir: string): Promise<string | undefined> {
  const lacks: string[] = [];
  // lstat: in a usr-merged root /bin is a symlink to usr/bin, and etc/os-release one to ../usr/lib/os-release.
  if (!(await exists(join(dir, 'bin/sh'))) && !(await isDir(join(dir, 'usr/bin')))) lacks.push('/bin/sh or /usr/bin');
  if (!(await exists(join(dir, 'etc/os-release'))) && !(await exists(join(dir, 'usr/lib/os-release')))) lacks.push('etc/os-release');
  for (const m of ['proc', 'sys', 'dev', 'tmp', 'run']) if (!(await exists(join(dir, m)))) lacks.push(`/${m}`);
  return lacks.length ? `lacks ${lacks.join(', ')}` : undefined;
}
