/**
 * Stops and exits, for real: Ctrl-C during a debootstrap image build stops
 * it at once and leaves nothing; a killed build's scratch directory is shown
 * and swept; an interrupted run counts what it did not run apart from ERROR;
 * a CRIU killed by a signal is reported as crashed through the real
 * namespace backend; and the CLI exits as soon as it has printed its results.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { Criu, featureVerdict } from '../../src/criu/driver.ts';
import type { Environment } from '../../src/environments/environment.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { RunResults } from '../../src/results/schema.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { cli, harnessProcesses, tempDir, waitFor, workDirsOf } from './harness.ts';

const SHARED_CACHE = defaultCacheDir();

function writeConfig(lines: string[]): string {
  const file = join(tempDir('criu-compat-cfg-'), 'pools.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Processes working on something under DIR (debootstrap names its target; dpkg & co. are chrooted into it). Other sessions' processes do not count. */
function processesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    let root = '';
    let cwd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      root = readlinkSync(`/proc/${pid}/root`);
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cmd.includes(dir) || root.startsWith(dir) || cwd.startsWith(dir)) out.push(`${pid} ${cmd}`);
  }
  return out;
}

const buildDirs = (cache: string) => readdirSync(join(cache, 'images')).filter((e) => /\.build-\d+$/.test(e));
const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));

function readResults(out: string): RunResults {
  return RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
}

/** A run that has to debootstrap a new image into an empty cache. */
function freshImageRun() {
  const cache = tempDir('criu-compat-cache-');
  const out = tempDir('criu-compat-e2e-');
  const config = writeConfig([
    'pools:',
    '  - name: fresh',
    '    kernel: host',
    '    image: trixie-extra',
    'images:',
    '  trixie-extra:',
    '    debootstrap: {suite: trixie, include: [criu, procps]}',
    'settings:',
    '  suites: [criu-check]',
  ]);
  const p = cli(['run', '--config', config, '--out', out, '--cache-dir', cache]);
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let ended = false;
  void p.then(() => (ended = true));
  return { p, cache, out, stderr: () => stderr, ended: () => ended };
}

/** SIGINT, then: exit 130 within a few seconds, no debootstrap left, no scratch directory, no mount; the pool is "not run". */
async function interruptAndCheck(run: ReturnType<typeof freshImageRun>): Promise<void> {
  const { p, cache, out } = run;
  const t0 = Date.now();
  p.kill('SIGINT');
  const r = await p;
  const stopMs = Date.now() - t0;
  expect(r.exitCode, r.all).toBe(130);
  expect(stopMs).toBeLessThan(5000);
  expect(processesUnder(cache)).toEqual([]);
  expect(buildDirs(cache)).toEqual([]);
  expect(mountsUnder(cache)).toEqual([]);
  expect(existsSync('/dev/null') && existsSync('/proc/self/status')).toBe(true);
  const res = readResults(out);
  expect(res.interrupted).toBe(true);
  expect(res.summary.ERROR).toBe(0);
  expect(res.pools[0]!.error).toBeUndefined();
  expect(res.notRun).toEqual([{ pool: 'fresh', suite: 'criu-check', check: '*' }]);
  expect(r.stdout).toContain('1 not run (interrupted)');
}

describe('Ctrl-C during an image build', () => {
  test('while debootstrap downloads: exit 130 at once, debootstrap and its half-built directory gone', async () => {
    const run = freshImageRun();
    expect(await waitFor(() => /image trixie-extra: debootstrap/.test(run.stderr()), 120_000), run.stderr()).toBe(true);
    await new Promise((r) => setTimeout(r, 2000));
    expect(processesUnder(run.cache).length).toBeGreaterThan(0); // really building
    expect(buildDirs(run.cache)).toHaveLength(1);
    await interruptAndCheck(run);
  });

  test('while debootstrap has proc mounted in its target: the mounts go too, the host is untouched', async () => {
    const run = freshImageRun();
    expect(await waitFor(() => mountsUnder(run.cache).length > 0 || run.ended(), 300_000), run.stderr()).toBe(true);
    expect(mountsUnder(run.cache).length).toBeGreaterThan(0);
    await interruptAndCheck(run);
  });
});

describe('a killed build left behind', () => {
  const plant = (cache: string, withMount: boolean) => {
    const dir = join(cache, 'images', 'x.build-99999999');
    mkdirSync(join(dir, 'rootfs/proc'), { recursive: true });
    writeFileSync(join(dir, 'rootfs/blob'), Buffer.alloc(3_000_000, 1));
    if (withMount) execFileSync('mount', ['-t', 'proc', 'proc', join(dir, 'rootfs/proc')]);
    return dir;
  };

  test('images list shows it with its size; images prune removes it (and what is mounted in it)', async () => {
    const cache = tempDir('criu-compat-cache-');
    const dir = plant(cache, true);
    try {
      const list = await cli(['images', 'list', '--cache-dir', cache]);
      expect(list.exitCode, list.all).toBe(0);
      expect(list.stdout).toContain('images/x.build-99999999  stale build (process 99999999 is gone), 3 MB');
      const prune = await cli(['images', 'prune', '--cache-dir', cache]);
      expect(prune.exitCode, prune.all).toBe(0);
      expect(existsSync(dir)).toBe(false);
      expect(mountsUnder(cache)).toEqual([]);
      expect(existsSync('/proc/self/status')).toBe(true);
    } finally {
      // Should the code under test fail, the temp dir's removal must not walk into the planted proc mount.
      for (const l of mountsUnder(cache)) execFileSync('umount', ['-l', l.split(' ')[4]!]);
    }
  });

  test('the next run sweeps it', async () => {
    const cache = tempDir('criu-compat-cache-');
    const dir = plant(cache, false);
    const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir: SHARED_CACHE, buildTimeoutMs: 900_000 });
    const config = writeConfig(['pools:', '  - name: t', '    kernel: host', '    image: mine', 'images:', `  mine: {rootfs: ${image.rootfs}}`, 'settings:', '  suites: [criu-check]']);
    const r = await cli(['run', '--config', config, '--out', tempDir('criu-compat-e2e-'), '--cache-dir', cache, '--no-progress']);
    expect(r.exitCode, r.all).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('an interrupted run', () => {
  test('the round trip cut short is not run, not ERROR', async () => {
    const out = tempDir('criu-compat-e2e-');
    const config = writeConfig([
      'pools:',
      '  - name: nobp',
      '    kernel: host',
      '    image: debian-trixie',
      '    criu: {env: {CRIU_FAULT: "130"}}',
      'settings:',
      '  workloads: [hang]',
      '  suites: [criu-check, round-trip]',
      '  timeouts: {verifyMs: 120000}',
    ]);
    const p = cli(['run', '--config', config, '--out', out, '--no-progress']);
    expect(await waitFor(() => harnessProcesses().some((x) => /\/run\/criu-compat\/bin\/hang/.test(x)), 120_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    const res = readResults(out);
    expect(res.interrupted).toBe(true);
    expect(res.cells.filter((c) => c.status === 'ERROR')).toEqual([]);
    expect(res.cells.some((c) => c.check === 'hang')).toBe(false);
    expect(res.notRun).toContainEqual({ pool: 'nobp', suite: 'round-trip', check: 'hang' });
    expect(res.summary.notRun).toBe(res.notRun!.length);
    expect(r.stdout).toContain(`${res.summary.notRun} not run (interrupted)`);
    // Only this run's leftovers: other sessions may be running their own environments on this machine.
    expect(workDirsOf(p.pid!)).toEqual([]);
    expect(harnessProcesses().filter((x) => x.includes(`-${p.pid}-`))).toEqual([]);
  });
});

describe('CRIU killed by a signal, through the namespace backend', () => {
  test('the signal reaches the driver: crashed, and a crashed feature probe is ERROR', async () => {
    const natives = await buildNatives(SHARED_CACHE, []);
    const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir: SHARED_CACHE, buildTimeoutMs: 900_000 });
    const work = tempDir('criu-compat-ns-');
    chmodSync(work, 0o700);
    const env = await NamespaceEnvironment.start({ id: 'crash', rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 30_000 });
    try {
      const r = await env.exec(['sh', '-c', 'kill -SEGV $$'], { timeoutMs: 10_000 });
      expect(r).toMatchObject({ exitCode: 139, signal: 'SIGSEGV', timedOut: false });
      const exited = await env.exec(['sh', '-c', 'exit 139'], { timeoutMs: 10_000 });
      expect(exited.exitCode).toBe(139);
      expect(exited.signal).toBeUndefined();
      // The node image's criu cannot be made to crash; its place is taken by a shell that does, inside the same environment.
      const crashing: Environment = Object.assign(Object.create(env) as Environment, {
        exec: (argv: readonly string[], o: Parameters<Environment['exec']>[1]) => env.exec(argv[0] === 'criu' ? ['sh', '-c', 'echo "Dirty tracking is OFF" >&2; kill -SEGV $$'] : argv, o),
      });
      const probe = await new Criu(crashing, {}, 10_000).run(['check', '--feature', 'mem_dirty_track']);
      expect(probe.killedBy).toBe('SIGSEGV');
      expect(probe.diagnoses.map((d) => d.id)).toContain('criu-crashed');
      expect(featureVerdict('mem_dirty_track', probe, 10_000)).toEqual({ status: 'ERROR', reason: 'criu check --feature mem_dirty_track failed: criu killed by SIGSEGV' });
    } finally {
      await env.dispose();
    }
  });
});

describe('exit', () => {
  test('a one-pool namespace criu-check run exits within 1 s of printing "results:"', async () => {
    const config = writeConfig(['pools:', '  - name: t', '    kernel: host', '    image: debian-trixie', 'settings:', '  suites: [criu-check]']);
    const p = cli(['run', '--config', config, '--out', tempDir('criu-compat-e2e-'), '--no-progress']);
    let printed = 0;
    let stdout = '';
    p.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!printed && /\nresults: /.test(stdout)) printed = Date.now();
    });
    const r = await p;
    const exited = Date.now();
    expect(r.exitCode, r.all).toBe(0);
    expect(printed).toBeGreaterThan(0);
    expect(exited - printed).toBeLessThan(1000);
  });
});
