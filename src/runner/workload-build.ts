import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failPool } from '../backends/inventory.ts';
import { fixtureOf } from '../config/catalogue/index.ts';
import type { ProvisionedPool } from '../backends/pool-backend.ts';
import { BuildError } from '../errors.ts';
import { NamespaceEnvironment } from '../environments/namespace/namespace-environment.ts';
import type { NodeImage } from '../images/node-image.ts';
import { contentHash } from '../util/hash.ts';
import { withLock } from '../util/fs.ts';
import { run } from '../util/process.ts';

/**
 * settings.workloadBuild: image. The application's libc decides what CRIU
 * meets (glibc >= 2.35 registers rseq in every thread, whatever the node's
 * CRIU), so a pool can have its workloads built inside its node image, with
 * that image's compiler and libc, instead of on this machine. Still static:
 * the runtime suite's containers hold nothing but the binaries, and static
 * glibc carries the same start-up code (rseq included). Cached per image
 * content and sources in CACHE/native.
 */

const CFLAGS = ['-O2', '-Wall', '-Wextra', '-static', '-pthread'];
const INSIDE = '/run/criu-compat';

export interface BuiltWorkloads {
  /** Host paths of the binaries, by workload name. */
  workloads: Record<string, string>;
  /** Which libc they carry, for the cells ("glibc 2.41 (static, built in node image debian-trixie)"). */
  libc: string;
}

/**
 * Gives every provisioned pool its workload binaries and their libc: with
 * mode host the run's own (plan.natives.workloads), with mode image the ones
 * built in its node image (pools sharing an image share one build). A node
 * image that cannot build them makes its pools ERROR with the reason.
 */
export async function assignWorkloadBuilds(
  provisioned: readonly ProvisionedPool[],
  mode: 'host' | 'image',
  workloads: readonly string[],
  o: { fixturesDir: string; cacheDir: string; helper: string; workRoot: string; timeoutMs: number; progress: (pool: string, what: string) => void },
): Promise<void> {
  if (mode === 'host') {
    const libc = await hostLibc();
    for (const p of provisioned) p.planned.fixtureLibc = libc;
    return;
  }
  const builds = new Map<string, Promise<BuiltWorkloads>>();
  for (const p of provisioned) {
    if (p.planned.error || !p.image) continue;
    const image = p.image;
    if (!builds.has(image.name)) {
      o.progress(p.pool.name, `compiling the workloads in node image ${image.name}…`);
      builds.set(image.name, buildInImage(image, workloads, o));
    }
    try {
      const b = await builds.get(image.name)!;
      p.planned.workloads = b.workloads;
      p.planned.fixtureLibc = b.libc;
    } catch (e) {
      if (!(e instanceof BuildError)) throw e;
      failPool(p, e, o.progress);
    }
  }
}

/** The libc of this machine's own build (settings.workloadBuild: host). */
export async function hostLibc(): Promise<string> {
  const r = await run(['getconf', 'GNU_LIBC_VERSION'], { timeoutMs: 10_000 }).catch(() => undefined);
  const v = r?.exitCode === 0 ? r.stdout.trim() : '';
  return `${v ? v.replace(/^glibc /, 'glibc ') : 'unknown libc'} (static, built on this machine)`;
}

/** Compiles the fixtures of WORKLOADS (fixtures/workloads/FIXTURE.c with cc-workload.h) inside IMAGE's rootfs with its own cc. */
export async function buildInImage(
  image: NodeImage,
  workloads: readonly string[],
  o: { fixturesDir: string; cacheDir: string; helper: string; workRoot: string; timeoutMs: number },
): Promise<BuiltWorkloads> {
  const header = await readFile(join(o.fixturesDir, 'cc-workload.h'), 'utf8');
  // Classes that share a fixture share its binary (named after the fixture, as on the host).
  const fixtures = [...new Set(workloads.map(fixtureOf))];
  const sources = Object.fromEntries(await Promise.all(fixtures.map(async (f) => [f, await readFile(join(o.fixturesDir, `${f}.c`), 'utf8')] as const)));
  const dir = join(o.cacheDir, 'native', `image-${image.name}-${contentHash(image.key).slice(0, 16)}`);
  const out = (w: string) => join(dir, `${w}-${contentHash(image.key, CFLAGS, header, sources[w]!)}`);
  const libcFile = join(dir, 'libc.txt');
  const cached = async () => (await Promise.all([libcFile, ...fixtures.map(out)].map(exists))).every(Boolean);
  return withLock(`${dir}.lock`, 600_000, async () => {
    if (!(await cached())) {
      await mkdir(dir, { recursive: true });
      await compileInside(image, fixtures, sources, header, out, libcFile, o).catch(async (e: unknown) => {
        await rmdir(dir).catch(() => undefined); // only if nothing was ever built there
        throw e;
      });
    }
    const libc = (await readFile(libcFile, 'utf8')).trim();
    return { workloads: Object.fromEntries(workloads.map((w) => [w, out(fixtureOf(w))])), libc: `${libc} (static, built in node image ${image.name})` };
  });
}

async function compileInside(
  image: NodeImage,
  workloads: readonly string[],
  sources: Record<string, string>,
  header: string,
  out: (w: string) => string,
  libcFile: string,
  o: { workRoot: string; helper: string; timeoutMs: number },
): Promise<void> {
  const host = await mkdtemp(join(o.workRoot, `build-${image.name}-`));
  await chmod(host, 0o700);
  const env = await NamespaceEnvironment.start({ id: `${image.name}/workload-build`, rootfs: image.rootfs, hostWorkDir: host, helper: o.helper, timeoutMs: o.timeoutMs });
  try {
    await writeFile(join(host, 'cc-workload.h'), header);
    const version = await env.exec(['getconf', 'GNU_LIBC_VERSION'], { timeoutMs: o.timeoutMs });
    if (version.exitCode !== 0) throw new BuildError(`workloadBuild image: node image ${image.name} cannot tell its libc (getconf GNU_LIBC_VERSION: exit ${version.exitCode} ${version.stderr.trim()})`);
    for (const w of workloads) {
      await writeFile(join(host, `${w}.c`), sources[w]!);
      const r = await env.exec(['cc', ...CFLAGS, '-o', `${INSIDE}/${w}`, `${INSIDE}/${w}.c`], { cwd: INSIDE, timeoutMs: 120_000 });
      if (r.exitCode === 127 || /No such file or directory.*\bcc\b|exec.*\bcc\b.*not found/.test(r.stderr))
        throw new BuildError(`workloadBuild image: node image ${image.name} has no C compiler: add gcc and libc6-dev to its debootstrap include, or use settings.workloadBuild: host`);
      if (r.exitCode !== 0) throw new BuildError(`workloadBuild image: cannot compile ${w}.c in node image ${image.name}: ${r.stderr.trim().split('\n').slice(-4).join(' | ')}`);
      const tmp = `${out(w)}.tmp-${process.pid}`;
      await copyFile(join(host, w), tmp);
      await chmod(tmp, 0o755);
      await rename(tmp, out(w));
    }
    await writeFile(libcFile, `${version.stdout.trim()}\n`);
  } finally {
    await env.dispose();
    await rm(host, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
