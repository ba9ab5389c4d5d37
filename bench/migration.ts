/**
 * npm run bench (migration part) — what a migration cell costs over the bare
 * commands, and what pre-copy buys in downtime.
 *
 * 1. Overhead: `counter` moved between two nodes of debian-trixie on the host
 *    kernel (two namespace environments). "bare" is what an operator scripts:
 *    start, wait for ready, criu dump on A, cp -a of the image directory and
 *    the workload's files from A to B, criu restore -d on B, signal, wait for
 *    PASS. "harness" is the migration suite's attemptMigration (free-PID
 *    placement, moves with modes and links, figures, log reading, cleanup).
 *    Medians of N runs each, interleaved. Target <= 1.2.
 * 2. Downtime: a 192 MiB big-mem that keeps rewriting 10% of its pages (a
 *    checkpoint file goes into a VM in one agent frame, at most 255 MiB),
 *    moved from a 6.12 VM pool to a 6.1 VM pool (Debian's kernels track dirty
 *    memory and have userfaultfd; this host kernel has no soft-dirty) cold,
 *    with pre-copy (2 pre-dumps) and lazily, by a real `criu-compat run`; the
 *    downtime (final dump start → restore end) of pre-copy and lazy over cold's.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../src/config/builtin.ts';
import { parseConfig } from '../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT } from '../src/config/default.ts';
import { Criu } from '../src/criu/driver.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { MIGRATION_BASE, attemptMigration, type MigrationCase, type MigrationNode } from '../src/runner/migration.ts';
import { buildNatives } from '../src/runner/provision.ts';
import { mkdirPrivate, removeTree } from '../src/util/fs.ts';

const N = Number(process.env.BENCH_RUNS ?? 7);
const cacheDir = defaultCacheDir();
const { config } = parseConfig(DEFAULT_CONFIG_TEXT, 'default');
const timeouts = { ...config.settings.timeouts, criuMs: 300_000, verifyMs: 120_000, readyMs: 120_000 };
const criuEnv = { CRIU_FAULT: '130' };
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const natives = await buildNatives(cacheDir, ['counter', 'big-mem']);
const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000, onProgress: (w) => console.error(`image: ${w}`) });
const scratch = await mkdtemp(join(tmpdir(), 'criu-compat-bench-mig-'));
await mkdirPrivate(scratch);

async function nsNode(name: string): Promise<{ node: MigrationNode; work: string }> {
  const work = join(scratch, name);
  await mkdirPrivate(work);
  const env = await NamespaceEnvironment.start({ id: name, rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 15_000 });
  await env.makeDir(`${MIGRATION_BASE}/bin`);
  for (const w of ['counter', 'big-mem']) await env.copyIn(natives.workloads[w]!, `${MIGRATION_BASE}/bin/${w}`);
  return { node: { pool: name, env, criu: new Criu(env, criuEnv, timeouts.criuMs) }, work };
}

const counter: MigrationCase = { check: 'counter/cold → b', workload: 'counter', args: [], mode: 'cold' };

try {
  // 1. harness vs bare, namespace node A → namespace node B
  const [a, b] = await Promise.all([nsNode('a'), nsNode('b')]);
  try {
    // The namespace node's /run/criu-compat is its host work directory.
    const hostOf = (work: string, p: string) => join(work, p.slice('/run/criu-compat/'.length));
    const bare = async (i: number) => {
      const dir = `${MIGRATION_BASE}/bare-${i}`;
      const t0 = performance.now();
      const up = await a.node.env.exec(
        ['sh', '-c', 'set -e; d=$1; mkdir -p $d/img $d/out $d/data; TMPDIR=$d/data setsid $2 >$d/out/workload.out 2>&1 </dev/null & pid=$!; until grep -qx ready $d/out/workload.out; do sleep 0.005; done; criu dump -t $pid -D $d/img -o dump.log; echo $pid', 'bare', dir, `${MIGRATION_BASE}/bin/counter`],
        { timeoutMs: 60_000, env: criuEnv },
      );
      if (up.exitCode !== 0) throw new Error(`bare dump failed: ${up.stderr}`);
      const pid = up.stdout.trim();
      await cp(hostOf(a.work, dir), hostOf(b.work, dir), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      const down = await b.node.env.exec(['sh', '-c', 'set -e; d=$1; criu restore -d -D $d/img -o restore.log; kill -USR1 $2; until grep -q "^PASS" $d/out/workload.out; do sleep 0.005; done', 'bare', dir, pid], { timeoutMs: 60_000, env: criuEnv });
      if (down.exitCode !== 0) throw new Error(`bare restore failed: ${down.stderr}`);
      const ms = performance.now() - t0;
      await Promise.all([rm(hostOf(a.work, dir), { recursive: true }), rm(hostOf(b.work, dir), { recursive: true })]);
      return ms;
    };
    const harness = async (i: number) => {
      const dir = `${MIGRATION_BASE}/h-${i}`;
      const t0 = performance.now();
      const r = await attemptMigration(counter, { source: a.node, destination: b.node, dir, binary: `${MIGRATION_BASE}/bin/counter`, transit: join(scratch, `t-${i}`), timeouts, preDumps: 2 });
      if (r.status !== 'PASS') throw new Error(`harness migration: ${r.status}: ${r.reason}`);
      const ms = performance.now() - t0;
      await Promise.all([a.node.env.remove(dir), b.node.env.remove(dir)]);
      return ms;
    };
    await bare(0); // warm both paths
    await harness(0);
    const bs: number[] = [];
    const hs: number[] = [];
    for (let i = 1; i <= N; i++) {
      bs.push(await bare(i));
      hs.push(await harness(i));
    }
    console.log(`migration of counter between two debian-trixie nodes (criu ${image.packages.criu}, host kernel), ${N} runs each, medians:`);
    console.log(`  bare (dump, cp -a, restore)   ${median(bs).toFixed(0)} ms`);
    console.log(`  harness (attemptMigration)    ${median(hs).toFixed(0)} ms`);
    console.log(`  ratio harness/bare            ${(median(hs) / median(bs)).toFixed(3)}   (target <= 1.2)`);
  } finally {
    await Promise.all([a.node.env.dispose(), b.node.env.dispose()]);
  }

  // 2. downtime of pre-copy and lazy over cold: a 192 MiB big-mem rewriting 10% of its pages, moved between two VM
  //    pools (Debian's kernels have soft-dirty and userfaultfd; this host kernel has no soft-dirty), through the CLI.
  if (process.env.BENCH_SKIP_VM) process.exit(0);
  const config = join(scratch, 'downtime.yaml');
  await writeFile(
    config,
    [
      'pools:',
      '  - {name: k6.12-trixie, kernel: debian/trixie, image: debian-trixie, vm: {memoryMiB: 2048}, bigMemMiB: [192]}',
      '  - {name: k6.1-trixie, kernel: debian/bookworm, image: debian-trixie, vm: {memoryMiB: 2048}, bigMemMiB: [192]}',
      'migrations:',
      '  - {name: downtime, from: [k6.12-trixie], to: [k6.1-trixie], workloads: [big-mem], modes: [cold, pre-copy, lazy], dirtyPercent: 10}',
      'settings: {suites: [migration], timeouts: {criuMs: 300000, readyMs: 120000, verifyMs: 120000}}',
    ].join('\n'),
  );
  const out = join(scratch, 'out');
  const run = await execa(process.execPath, [join(import.meta.dirname, '../src/cli/main.ts'), 'run', '--config', config, '--out', out, '--no-progress'], { reject: false, all: true });
  const { RunResults } = await import('../src/results/schema.ts');
  const results = RunResults.parse(JSON.parse(await readFile(join(out, (await readdir(out))[0]!, 'results.json'), 'utf8')));
  const down: Record<string, number> = {};
  console.log('big-mem 192 MiB rewriting 10% of its pages, k6.12-trixie → k6.1-trixie (VMs; accelerator as probed):');
  for (const c of results.cells) {
    const m = c.metrics.migration ?? {};
    if (c.status !== 'PASS' || !c.mode) {
      console.log(`  ${c.pool} › ${c.suite} › ${c.check}: ${c.status}: ${c.reason}`);
      continue;
    }
    down[c.mode!] = m.downtimeMs!;
    const pre = Object.entries(m).filter(([k]) => /^preDump\d+(Pages|Bytes)$/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`  ${c.mode!.padEnd(9)} downtime ${m.downtimeMs!.toFixed(0)} ms (freeze ${m.freezeMs!.toFixed(0)} ms, moved ${((m.transferBytes ?? 0) / 2 ** 20).toFixed(1)} MiB during it)${pre ? `; ${pre}` : ''}`);
  }
  if (run.exitCode !== 0 && run.exitCode !== 1) console.log(run.all);
  for (const mode of ['pre-copy', 'lazy']) if (down[mode] !== undefined && down.cold) console.log(`  ratio ${mode}/cold${' '.repeat(9 - mode.length)}${(down[mode]! / down.cold).toFixed(3)}`);
} finally {
  await removeTree(scratch);
}
