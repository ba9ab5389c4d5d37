import { access, constants, readFile, statfs } from 'node:fs/promises';
import { arch } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { pilotMovesAddress } from '../config/pilot-schema.ts';
import { migrationNeedsNetwork, type Pool } from '../config/schema.ts';
import { networkFor } from '../suites/registry.ts';

/**
 * What the host needs for a selection of pools (or for the harness's own
 * tests), checked the same way by `doctor`, `setup` and `run`. Checks only
 * look at the file system (PATH, files, /proc), so a machine that has
 * everything answers in milliseconds.
 */

/** Why something is needed; decides which requirements a selection has. */
/** deb-kernel: a kernel .deb to unpack; debian-kernel: one found in Debian's archive (then also deb-kernel); own-kernel: {vmlinuz, modules}. */
export type Need = 'harness' | 'debootstrap' | 'tarball' | 'qemu' | 'deb-kernel' | 'debian-kernel' | 'own-kernel' | 'network' | 'tests';

export interface Requirement {
  /** What the user reads: a command or a file. */
  name: string;
  why: string;
  needs: readonly Need[];
  /** Debian/Ubuntu packages that provide it; empty: the harness cannot install it. */
  packages: readonly string[];
  /** What to do when it is missing and cannot be installed. */
  fix?: string;
  check: () => Promise<boolean>;
}

/** Where the harness and the tools it runs look for commands (debootstrap and depmod run with sbin on PATH). */
const SEARCH_PATH = [...new Set([...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])];

/** The first executable called NAME on the search path, or null. */
export async function findCommand(name: string, path: readonly string[] = SEARCH_PATH): Promise<string | null> {
  for (const dir of path) {
    const p = join(dir, name);
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return null;
}

const exists = (p: string) => access(p).then(() => true, () => false);
const command = (name: string) => () => findCommand(name).then((p) => p !== null);

/** The multiarch triplet Debian installs libc.a under. */
const TRIPLET = ({ x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' } as Record<string, string>)[arch()] ?? `${arch()}-linux-gnu`;

/** CapEff bit of CAP_SYS_ADMIN. */
const CAP_SYS_ADMIN = 21n;

async function hasCapability(bit: bigint): Promise<boolean> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> bit) & 1n) === 1n;
}

/** Free space under PATH (or its nearest existing parent), in bytes. */
export async function freeBytes(path: string): Promise<number> {
  for (let p = path; ; p = dirname(p)) {
    const s = await statfs(p).catch(() => null);
    if (s) return s.bavail * s.bsize;
    if (dirname(p) === p) return 0;
  }
}

/** A first run of the embedded default fills about 3 GB (images, kernels, guest roots). */
export const MIN_FREE_BYTES = 2 * 2 ** 30;

export function requirements(cacheDir: string): Requirement[] {
  return [
    {
      name: 'root',
      why: 'CRIU, namespaces and mounts need it',
      needs: ['harness'],
      packages: [],
      fix: 'run it as root, e.g. with sudo',
      check: async () => process.getuid?.() === 0,
    },
    {
      name: 'CAP_SYS_ADMIN',
      why: 'namespaces, mounts and CRIU restore',
      needs: ['harness'],
      packages: [],
      fix: 'this root lacks it: run on the host or in a privileged container',
      // Without root the root line says it all.
      check: async () => process.getuid?.() !== 0 || hasCapability(CAP_SYS_ADMIN),
    },
    {
      name: `free space in ${cacheDir}`,
      why: `node images, kernels and guest roots are cached there (at least ${MIN_FREE_BYTES / 2 ** 30} GiB)`,
      needs: ['harness'],
      packages: [],
      fix: 'free some space, or point --cache-dir / CRIU_COMPAT_CACHE at a bigger disk',
      check: async () => (await freeBytes(cacheDir)) >= MIN_FREE_BYTES,
    },
    { name: 'cc', why: 'compiles the static workloads, probes and helpers', needs: ['harness'], packages: ['gcc'], check: command('cc') },
    { name: `libc.a`, why: 'static linking of the workloads', needs: ['harness'], packages: ['libc6-dev'], check: () => exists(`/usr/lib/${TRIPLET}/libc.a`) },
    { name: 'debootstrap', why: 'builds the node images', needs: ['debootstrap'], packages: ['debootstrap'], check: command('debootstrap') },
    {
      name: 'Debian archive keyring',
      why: 'debootstrap checks the archive signatures with it',
      needs: ['debootstrap', 'debian-kernel'],
      packages: ['debian-archive-keyring'],
      check: () => exists('/usr/share/keyrings/debian-archive-keyring.gpg'),
    },
    { name: 'tar', why: 'unpacks tarball node images', needs: ['tarball'], packages: ['tar'], check: command('tar') },
    { name: 'qemu-system-x86_64', why: 'boots the VM pools', needs: ['qemu'], packages: ['qemu-system-x86'], check: command('qemu-system-x86_64') },
    { name: 'cpio', why: 'packs the VM guest roots', needs: ['qemu'], packages: ['cpio'], check: command('cpio') },
    { name: 'xz', why: "unpacks the kernels' compressed modules", needs: ['qemu'], packages: ['xz-utils'], check: command('xz') },
    { name: 'ip', why: 'makes the node network a suite asked for (a bridge, veths, taps, client netns)', needs: ['network'], packages: ['iproute2'], check: command('ip') },
    { name: '/dev/net/tun', why: "plugs VMs into the node network (QEMU's tap)", needs: ['network'], packages: [], fix: 'load the tun module (modprobe tun)', check: () => exists('/dev/net/tun') },
    { name: 'depmod', why: 'indexes the modules of Debian kernel packages', needs: ['deb-kernel', 'own-kernel'], packages: ['kmod'], check: command('depmod') },
    { name: 'dpkg-deb', why: 'unpacks Debian kernel packages', needs: ['deb-kernel'], packages: ['dpkg'], check: command('dpkg-deb') },
    { name: 'apt-get', why: 'finds and downloads Debian kernel packages', needs: ['debian-kernel'], packages: ['apt'], check: command('apt-get') },
    { name: 'chromium', why: 'the HTML report\'s browser test', needs: ['tests'], packages: ['chromium'], check: () => exists('/usr/bin/chromium') },
    { name: 'podman', why: 'the container backend\'s DOCKER_HOST test, where a host podman service stands in for Docker', needs: ['tests'], packages: ['podman'], check: command('podman') },
    { name: 'runc', why: 'the host podman\'s OCI runtime in that test', needs: ['tests'], packages: ['runc'], check: command('runc') },
  ];
}

/** What a selection of pools needs on this machine. */
export function needsOf(loaded: LoadedConfig, pools: readonly Pool[]): Set<Need> {
  const needs = new Set<Need>(['harness']);
  const packagesOf = (image: string) => {
    const i = loaded.images[image];
    return i && 'debootstrap' in i ? i.debootstrap.include : undefined;
  };
  if (networkFor(loaded.config.settings.suites, pools.map((p) => ({ backend: p.backend, packages: packagesOf(p.image) })))) needs.add('network');
  // A migration over the network between two of the selected pools (page server, lazy pages, a peer on a third node).
  const names = new Set(pools.map((p) => p.name));
  for (const g of loaded.config.migrations)
    if (migrationNeedsNetwork(g) && [...(g.pools ?? []), ...(g.from ?? [])].some((n) => names.has(n)) && [...(g.pools ?? []), ...(g.to ?? [])].some((n) => names.has(n))) needs.add('network');
  // A pilot whose migration moves its service address (its client on a client node).
  for (const p of loaded.config.settings.suites.includes('pilot') ? loaded.config.pilots : [])
    if (pilotMovesAddress(p) && p.pools.some((s) => names.has(s) && p.migrateTo.some((d) => d !== s && names.has(d)))) needs.add('network');
  for (const pool of pools) {
    const image = loaded.images[pool.image];
    if (image && 'debootstrap' in image) needs.add('debootstrap');
    if (image && 'tarball' in image) needs.add('tarball');
    if (pool.backend === 'qemu') needs.add('qemu');
    const k = pool.kernel;
    if (typeof k === 'string' ? k.startsWith('debian/') : 'debian' in k) needs.add('debian-kernel').add('deb-kernel');
    if (typeof k === 'object' && 'deb' in k) needs.add('deb-kernel');
    if (typeof k === 'object' && 'vmlinuz' in k) needs.add('own-kernel');
  }
  return needs;
}

export interface CheckResult {
  requirement: Requirement;
  present: boolean;
}

/** Checks every requirement the needs select, side by side. */
export async function checkRequirements(needs: ReadonlySet<Need>, cacheDir: string): Promise<CheckResult[]> {
  const selected = requirements(cacheDir).filter((r) => r.needs.some((n) => needs.has(n)));
  return Promise.all(selected.map(async (requirement) => ({ requirement, present: await requirement.check().catch(() => false) })));
}
