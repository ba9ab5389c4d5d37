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
 * 2. Downtime: a 256 MiB big-mem that keeps rewriting 10% of its pages,
 *    moved on a VM pool (soft-dirty tracking: Debian's 6.12 kernel; the host
 *    kernel has none) cold and with pre-copy (2 pre-dumps); the downtime
 *    (final dump start → restore end) of pre-copy over cold's. Lazy pages
 *    are reported when the build has them wired.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../src/config/builtin.ts';
import { parseConfig } from '../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT } from '../src/config/default.ts';
import { Criu } from '../src/criu/driver.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { chooseAccel } from '../src/environments/qemu/accel.ts';
import { QemuMachine, channelSocket } from '../src/environments/qemu/qemu-machine.ts';
import { openVmSession } from '../src/environments/qemu/vm-session.ts';
import { buildGuestRoot } from '../src/images/guest-root.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { resolveKernel } from '../src/kernels/kernel.ts';
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

  // 2. downtime of pre-copy (and lazy) over cold, 256 MiB dirtying 10%, on one VM node (soft-dirty)
  if (process.env.BENCH_SKIP_VM) process.exit(0);
  const kernel = await resolveKernel('debian/trixie', { cacheDir, timeoutMs: 600_000 });
  const root = await buildGuestRoot(kernel, image, natives.agent, [], { cacheDir, timeoutMs: 600_000 });
  const vmDir = join(scratch, 'vm');
  const accel = await chooseAccel('auto', { vmlinuz: kernel.vmlinuz, agent: natives.agent, guard: natives.guard, cacheDir, workDir: vmDir });
  const m = await QemuMachine.start({ id: 'bench-mig', vmlinuz: kernel.vmlinuz, initrd: root.initrd, memoryMiB: 2048, cpus: 2, accel: accel.accel, channels: 2, dir: vmDir, guard: natives.guard, bootTimeoutMs: 180_000 });
  try {
    m.control.close();
    const env = await openVmSession({ id: 'bench-mig/migration', socket: channelSocket(vmDir, 1), session: 'migration', timeoutMs: 30_000 });
    await env.makeDir(`${MIGRATION_BASE}/bin`);
    await env.copyIn(natives.workloads['big-mem']!, `${MIGRATION_BASE}/bin/big-mem`);
    const node: MigrationNode = { pool: 'k6.12-trixie', env, criu: new Criu(env, {}, timeouts.criuMs) };
    const down: Record<string, number> = {};
    for (const mode of ['cold', 'pre-copy', 'lazy'] as const) {
      const c: MigrationCase = { check: `big-mem/256MiB/${mode}`, workload: 'big-mem', args: ['256', '10'], mode, sizeMiB: 256 };
      const r = await attemptMigration(c, { source: node, destination: node, dir: `${MIGRATION_BASE}/${mode}`, binary: `${MIGRATION_BASE}/bin/big-mem`, transit: join(scratch, `vt-${mode}`), timeouts, preDumps: 2, coldDowntimeMs: down.cold });
      await env.remove(`${MIGRATION_BASE}/${mode}`);
      if (r.status === 'SKIP') {
        console.log(`  ${mode.padEnd(9)} SKIP: ${r.reason}`);
        continue;
      }
      if (r.status !== 'PASS') throw new Error(`${mode}: ${r.status}: ${r.reason}`);
      down[mode] = r.metrics.migration!.downtimeMs!;
      const pre = Object.entries(r.metrics.migration!).filter(([k]) => /^preDump\d+(Pages|Bytes)$/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`  ${mode.padEnd(9)} downtime ${down[mode]!.toFixed(0)} ms, freeze ${r.metrics.migration!.freezeMs!.toFixed(0)} ms${pre ? `; ${pre}` : ''}`);
    }
    console.log(`big-mem 256 MiB rewriting 10% of its pages, one ${kernel.release} VM (${accel.accel}), downtime ratios:`);
    for (const mode of ['pre-copy', 'lazy']) if (down[mode] !== undefined) console.log(`  ${mode}/cold${' '.repeat(10 - mode.length)}${(down[mode]! / down.cold!).toFixed(3)}`);
    await env.dispose();
  } finally {
    await m.dispose();
  }
} finally {
  await removeTree(scratch);
}
