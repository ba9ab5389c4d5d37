/** Node images: cached builds are reused; a user's own rootfs directory or tarball works as a pool's image. */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';

let trixieRootfs = '';
const scratch = tempDir('criu-compat-img-');

beforeAll(async () => {
  const r = await cli(['images', 'build', 'debian-trixie']);
  expect(r.exitCode, r.all).toBe(0);
  trixieRootfs = /at (\S+) \(criu/.exec(r.stdout)![1]!;
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function runWith(images: string, extra: string[] = []): Promise<{ code: number | undefined; results?: RunResults; all: string }> {
  const cfg = join(scratch, `pools-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    cfg,
    `images:\n${images}\npools:\n  - name: user-pool\n    kernel: host\n    image: mine\n    criu: {env: {CRIU_FAULT: "130"}}\nsettings:\n  suites: [round-trip]\n  workloads: [counter]\n`,
  );
  const out = mkdtempSync(join(scratch, 'out-'));
  const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress', ...extra]);
  const runs = readdirSync(out);
  return {
    code: r.exitCode,
    all: r.all,
    ...(runs.length ? { results: RunResults.parse(JSON.parse(readFileSync(join(out, runs[0]!, 'results.json'), 'utf8'))) } : {}),
  };
}

describe('node images', () => {
  test('a cached image is not rebuilt', async () => {
    const t0 = performance.now();
    const r = await cli(['images', 'build', 'debian-trixie']);
    expect(r.stdout).toMatch(/^debian-trixie: cached at /m);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  test('a rootfs directory as the node image', async () => {
    const r = await runWith(`  mine: {rootfs: ${trixieRootfs}}`);
    expect(r.code, r.all).toBe(0);
    expect(r.results!.pools[0]!.image).toMatchObject({ source: 'rootfs', key: trixieRootfs, osRelease: 'Debian GNU/Linux 13 (trixie)' });
    expect(r.results!.cells.find((c) => c.check === 'counter')!.status).toBe('PASS');
  });

  test('a tarball as the node image, extracted once into the cache by content', async () => {
    const tar = join(scratch, 'node.tar');
    await execa('tar', ['-cf', tar, '--numeric-owner', '-C', trixieRootfs, '.']);
    const cache = join(scratch, 'cache');
    const r = await runWith(`  mine: {tarball: ${tar}}`, ['--cache-dir', cache]);
    expect(r.code, r.all).toBe(0);
    expect(r.results!.pools[0]!.image).toMatchObject({ source: 'tarball', builtThisRun: true });
    expect(r.results!.cells.find((c) => c.check === 'counter')!.status).toBe('PASS');
    const again = await runWith(`  mine: {tarball: ${tar}}`, ['--cache-dir', cache]);
    expect(again.results!.pools[0]!.image!.builtThisRun).toBe(false);
    expect(readdirSync(join(cache, 'images')).filter((e) => e.startsWith('tar-'))).toHaveLength(1);
  });

  test('a rootfs that is not a node image is refused when the config is loaded: exit 2, one line, no run', async () => {
    const bad = join(scratch, 'not-a-rootfs');
    mkdirSync(join(bad, 'usr'), { recursive: true });
    const r = await runWith(`  mine: {rootfs: ${bad}}`);
    expect(r.code).toBe(2);
    expect(r.results).toBeUndefined();
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(r.all).toMatch(/at images\.mine\.rootfs \(line 2\): a root filesystem directory .*, but \S+ lacks \/bin\/sh or \/usr\/bin, etc\/os-release, \/proc, \/sys, \/dev, \/tmp, \/run$/);
  });
});
