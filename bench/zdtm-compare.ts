/**
 * node bench/zdtm-compare.ts — the harness's cell vs CRIU's own zdtm runner,
 * per static test, with the same CRIU on the same kernel (issue 14: the harness
 * must stay at most a tenth of zdtm per static test).
 *
 * Which CRIU: debian-trixie's node image (the one the round-trip benchmark
 * uses). zdtm.py is Python and needs yaml and protobuf, which the node image
 * does not have, so zdtm.py runs on the host and its --criu-bin is a wrapper
 * that starts the image's own criu binary through the image's own dynamic
 * loader and libraries (no chroot: zdtm's "h" flavour runs its tests in the
 * host's mount namespace, where a chrooted criu could not see them).
 *
 * zdtm side: `zdtm.py run -t zdtm/static/X -f h --criu-bin WRAPPER`, the
 * zdtm tree of the same CRIU version (git tag) built here (lib, the tests,
 * pycriu's generated protobuf modules). Its tests normally drop to uid 18943;
 * dumping another user's process needs CAP_SYS_RESOURCE, which root lacks on
 * this machine kind (`Can't get rlimit 0: Operation not permitted`), so each
 * compared test gets a .desc with the `suid` flag (it runs as root, like the
 * harness's fixtures). Harness side: attemptRoundTrip of the closest catalogue
 * class in a running namespace environment of the same image, as
 * bench/round-trip.ts does. Both get CRIU_FAULT=130, as the default pools do.
 * Medians of N interleaved runs each (BENCH_RUNS, default 5).
 *
 * Needs on the host: /usr/bin/python3 with yaml and google.protobuf, protoc
 * with Google's descriptor.proto (Debian: python3-yaml python3-protobuf
 * protobuf-compiler libprotobuf-dev), make, cc, git, and CRIU's sources as a
 * git directory (ZDTM_CRIU_GIT, default /work/.mirror/checkpoint-restore+criu/repo).
 * Missing any of these, it says which and exits 0 (it is not part of npm run bench).
 */
import { access, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT } from '../src/config/default.ts';
import { Criu } from '../src/criu/driver.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { buildNatives } from '../src/runner/provision.ts';
import { attemptRoundTrip, planCases } from '../src/runner/round-trip.ts';
import { mkdirPrivate, removeTree } from '../src/util/fs.ts';
import { run } from '../src/util/process.ts';

const N = Number(process.env.BENCH_RUNS ?? 5);
const CRIU_GIT = process.env.ZDTM_CRIU_GIT ?? '/work/.mirror/checkpoint-restore+criu/repo';
const PY = '/usr/bin/python3';
/** Catalogue class → the closest zdtm static test. */
const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['counter', 'env00'],
  ['pipe-pair', 'pipe00'],
  ['open-file', 'write_read00'],
  ['fifo', 'fifo'],
  ['mprotect', 'maps00'],
  ['threads', 'pthread00'],
];
const criuEnv = { CRIU_FAULT: '130' };
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sh = (script: string, timeoutMs: number, cwd?: string) => run(['sh', '-ec', script], { timeoutMs, ...(cwd ? { cwd } : {}) });

// 0. What zdtm needs on the host: say what is missing and stop (exit 0).
const missing: string[] = [];
const probe = async (what: string, argv: string[]) => {
  const r = await run(argv, { timeoutMs: 20_000 });
  if (r.exitCode !== 0) missing.push(what);
};
await probe('python3 with yaml and protobuf (python3-yaml, python3-protobuf)', [PY, '-c', 'import yaml, google.protobuf']);
await probe('protoc (protobuf-compiler)', ['protoc', '--version']);
await probe("Google's descriptor.proto (libprotobuf-dev)", ['test', '-f', '/usr/include/google/protobuf/descriptor.proto']);
await probe('make', ['make', '--version']);
await probe('cc', ['cc', '--version']);
await probe(`CRIU's sources as a git directory at ${CRIU_GIT} (set ZDTM_CRIU_GIT)`, ['git', '--git-dir', CRIU_GIT, 'rev-parse', 'HEAD']);
if (missing.length) {
  console.log(`zdtm-compare: skipped, missing on this host: ${missing.join('; ')}`);
  process.exit(0);
}

const cacheDir = defaultCacheDir();
const { config, images } = parseConfig(DEFAULT_CONFIG_TEXT, 'default');
const timeouts = config.settings.timeouts;
const image = await resolveImage('debian-trixie', images['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000, onProgress: (w) => console.error(`image: ${w}`) });
const criuVersion = (image.packages.criu ?? '').replace(/^\d+:/, '').replace(/-[^-]*$/, '');
const tag = `v${criuVersion}`;
if ((await run(['git', '--git-dir', CRIU_GIT, 'rev-parse', '--verify', `${tag}^{commit}`], { timeoutMs: 20_000 })).exitCode !== 0) {
  console.log(`zdtm-compare: skipped, ${CRIU_GIT} has no tag ${tag} (the node image's criu is "${image.packages.criu ?? 'absent'}")`);
  process.exit(0);
}
const natives = await buildNatives(cacheDir, PAIRS.map(([c]) => c));
const scratch = await mkdtemp(join(tmpdir(), 'criu-compat-zdtm-'));
await mkdirPrivate(scratch);
const src = join(scratch, 'criu');
const testDir = join(src, 'test');
const wrapper = join(scratch, 'criu-wrapper');
const loader = join(image.rootfs, 'usr/lib64/ld-linux-x86-64.so.2');
const zdtmEnvPath = `/usr/bin:/usr/sbin:/bin:/sbin:${process.env.PATH ?? ''}`;

/** The zdtm tree of the image's CRIU version, and a criu wrapper that runs the image's binary with its own libraries. */
async function prepareZdtm(): Promise<void> {
  await access(loader);
  await writeFile(wrapper, `#!/bin/sh\nexec '${loader}' --library-path '${image.rootfs}/usr/lib/x86_64-linux-gnu' '${image.rootfs}/usr/sbin/criu' "$@"\n`, { mode: 0o700 });
  const tests = PAIRS.map(([, t]) => t).join(' ');
  const r = await sh(
    `mkdir -p '${src}'; git --git-dir='${CRIU_GIT}' archive ${tag} | tar -x -C '${src}'
cd '${src}'; o=lib/pycriu/images; protos=$(ls images/*.proto | grep -v '/rpc.proto$')
protoc -I=images/ -I=/usr/include/ --python_out=$o $protos
protoc -I=images/ --python_out=lib/pycriu images/rpc.proto
${PY} scripts/magic-gen.py criu/include/magic.h $o/magic.py
{ echo '# generated'; for f in $protos; do m=$(basename $f .proto | tr - _)_pb2; [ $m = opts_pb2 ] || echo "from .$m import *"; done; } > $o/pb.py
echo "__version__ = '${criuVersion}'" > lib/pycriu/version.py
cd test; make -s -C zdtm/lib >/dev/null; make -s -C zdtm/static ${tests} >/dev/null; make -s zdtm_ct umount2 >/dev/null
for t in ${tests}; do [ ! -e zdtm/static/$t.desc ] || { echo "zdtm/static/$t.desc exists" >&2; exit 1; }; echo "{'flags': 'suid'}" > zdtm/static/$t.desc; done`,
    300_000,
  );
  if (r.exitCode !== 0) throw new Error(`zdtm-compare: preparing zdtm ${tag} in ${src} failed (exit ${r.exitCode}): ${r.stderr.slice(-2000)}`);
  const check = await run([wrapper, 'check'], { timeoutMs: 60_000, env: { PATH: zdtmEnvPath, ...criuEnv } });
  if (check.exitCode !== 0) throw new Error(`zdtm-compare: the image's criu through ${wrapper} fails criu check: ${check.stderr.slice(-1000)}`);
}

async function zdtmOnce(test: string): Promise<number> {
  const t0 = performance.now();
  const r = await run([PY, 'zdtm.py', 'run', '-t', `zdtm/static/${test}`, '-f', 'h', '--criu-bin', wrapper, '-k', 'never'], {
    timeoutMs: 180_000,
    cwd: testDir,
    env: { PATH: zdtmEnvPath, HOME: process.env.HOME ?? '/root', ...criuEnv },
  });
  const ms = performance.now() - t0;
  if (r.exitCode !== 0 || !r.stdout.includes(`Test zdtm/static/${test} PASS`)) {
    throw new Error(`zdtm-compare: zdtm.py run -t zdtm/static/${test} did not PASS (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}): ${(r.stdout + r.stderr).slice(-3000)}`);
  }
  return ms;
}

const rows: Array<{ cls: string; test: string; h: number; c: number; z: number }> = [];
let envMs = 0;
try {
  await prepareZdtm();
  const work = join(scratch, 'env');
  await mkdirPrivate(work);
  const tEnv = performance.now();
  const env = await NamespaceEnvironment.start({ id: 'zdtm-bench', rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 15_000 });
  envMs = performance.now() - tEnv;
  try {
    await env.makeDir('/run/criu-compat/bin');
    for (const [c] of PAIRS) await env.copyIn(natives.workloads[c]!, `/run/criu-compat/bin/${c}`);
    let seq = 0;
    const harnessOnce = async (cls: string): Promise<[number, number]> => {
      const c = planCases({ workloads: [cls], bigMemMiB: [] })[0]!;
      const dir = `/run/criu-compat/h${seq++}`;
      const t0 = performance.now();
      const a = await attemptRoundTrip(c, { env, criu: new Criu(env, criuEnv, timeouts.criuMs), binary: `/run/criu-compat/bin/${cls}`, dir, timeouts });
      const ms = performance.now() - t0;
      if (a.status !== 'PASS') throw new Error(`zdtm-compare: harness round trip of ${cls}: ${a.status}: ${a.reason}`);
      if (process.env.BENCH_VERBOSE) console.error(cls, JSON.stringify(a.durations), a.commands.join(' | '));
      await env.remove(dir);
      return [ms, (a.durations.dumpMs ?? 0) + (a.durations.restoreMs ?? 0)];
    };
    for (const [cls, test] of PAIRS) {
      await zdtmOnce(test); // warm both paths
      await harnessOnce(cls);
      const z: number[] = [];
      const h: number[] = [];
      const c: number[] = [];
      for (let i = 0; i < N; i++) {
        z.push(await zdtmOnce(test));
        const [ms, criuMs] = await harnessOnce(cls);
        h.push(ms);
        c.push(criuMs);
      }
      rows.push({ cls, test, h: median(h), c: median(c), z: median(z) });
      console.error(`  ${cls} vs ${test}: done`);
    }
  } finally {
    await env.dispose();
  }
} finally {
  await removeTree(scratch);
}

console.log(`harness cell vs CRIU's zdtm runner, debian-trixie's criu ${image.packages.criu} (zdtm ${tag}, flavour h), ${N} runs each, medians:`);
console.log(`  ${'class'.padEnd(12)} ${'zdtm test'.padEnd(14)} ${'harness'.padStart(8)} ${'(criu)'.padStart(8)} ${'zdtm'.padStart(8)}   ratio harness/zdtm`);
for (const r of rows) console.log(`  ${r.cls.padEnd(12)} ${r.test.padEnd(14)} ${r.h.toFixed(0).padStart(6)}ms ${r.c.toFixed(0).padStart(6)}ms ${r.z.toFixed(0).padStart(6)}ms   ${(r.h / r.z).toFixed(3)}`);
console.log('  (criu) = the dump and restore commands inside the harness cell; the rest is start, ready, signal and the fixture\'s own verification.');
const sumH = rows.reduce((s, r) => s + r.h, 0);
const sumZ = rows.reduce((s, r) => s + r.z, 0);
const geo = Math.exp(rows.reduce((s, r) => s + Math.log(r.h / r.z), 0) / rows.length);
console.log(`  overall harness/zdtm: ${(sumH / sumZ).toFixed(3)} (sum of medians), geometric mean ${geo.toFixed(3)}   (target <= 0.1)`);
console.log(`  the harness's environment start (once per pool, not per cell): ${envMs.toFixed(0)} ms`);
