/**
 * criu-compat as an SRE takes it into a pipeline: `npm pack`, then the tarball
 * installed into an empty directory with production dependencies only, and the
 * CLI run from there through npx — including a real (tiny) run on a namespace pool.
 */
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { RunResults } from '../../src/results/schema.ts';
import { ROOT, tempDir } from './harness.ts';

const NPM = ['--no-audit', '--no-fund', '--prefer-offline'];
let app = '';

/** npx in the consumer's directory, as a pipeline step would call it (no project checkout in sight). */
function npx(args: string[]) {
  return execa('npx', ['--no-install', 'criu-compat', ...args], { cwd: app, reject: false, all: true, env: { NO_COLOR: '1' } });
}

describe('installed as a package', () => {
  beforeAll(async () => {
    const dir = tempDir('criu-compat-pkg-');
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/criu-compat', 'bin/strip-types-hook.js', 'src/cli/main.ts', 'src/report/report.hbs', 'src/agent/main.c', 'src/agent/protocol.h', 'suites/criu-check.suite.ts', 'fixtures/workloads/counter.c', 'fixtures/probes/hw-breakpoints.c']));
    expect(files.filter((f) => f.endsWith('.test.ts') || f.startsWith('test/') || f.startsWith('fixtures/recorded/') || f.startsWith('bench/'))).toEqual([]);

    app = join(dir, 'app');
    await execa('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'node-image-pipeline', private: true }));
    const install = await execa('npm', ['install', '--omit=dev', ...NPM, join(dir, info!.filename)], { cwd: app, reject: false, all: true });
    expect(install.exitCode, install.all).toBe(0);
    // Production dependencies only: the project's devDependencies stay out.
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/vitest'))).toBe(true);
    // Node >= 22 as the node package's binary, which the launcher finds from the package's directory upwards.
    expect(existsSync(join(app, 'node_modules/node/bin/node'))).toBe(true);
  }, 300_000);

  test('npx criu-compat: --help and report --schema', async () => {
    const help = await npx(['--help']);
    expect(help.exitCode, help.all).toBe(0);
    expect(help.stdout).toMatch(/^Usage: criu-compat <command>/m);
    const schema = await npx(['report', '--schema']);
    expect(schema.exitCode, schema.all).toBe(0);
    expect(JSON.parse(schema.stdout)).toMatchObject({ properties: { schema: { const: 'criu-compat/results' } } });
    const doctor = await npx(['doctor']);
    expect(doctor.exitCode, doctor.all).toBe(0);
    expect(doctor.stdout).toMatch(/everything the selection needs is present/);
  }, 60_000);

  test('npx criu-compat run: a real criu-check on a namespace pool, from the installed package', async () => {
    writeFileSync(join(app, 'pools.yaml'), ['pools:', '  - {name: pkg-ns, kernel: host, image: debian-trixie}', 'settings: {suites: [criu-check]}', ''].join('\n'));
    const out = join(app, 'reports');
    const r = await npx(['run', '--config', 'pools.yaml', '--pool', 'pkg-ns', '--cache-dir', defaultCacheDir(), '--out', out, '--no-progress']);
    expect(r.exitCode, r.all).toBe(0);
    const runDir = join(out, readdirSync(out)[0]!);
    const results = RunResults.parse(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')));
    expect(results.pools.map((p) => p.name)).toEqual(['pkg-ns']);
    expect(results.cells.find((c) => c.check === 'check')?.status).toBe('PASS');
    expect(results.cells.every((c) => c.status === 'PASS' || c.status === 'SKIP')).toBe(true);
    expect(readdirSync(runDir)).toEqual(expect.arrayContaining(['report.html', 'summary.md', 'junit.xml', 'results.schema.json']));
  }, 600_000);
});
