/**
 * The security suite on this machine's kernel (namespace backend,
 * debian-trixie, CRIU 4.1.1), with a canary seed the test knows: the cells
 * prove the tokens are in the images (so they really were in memory), and no
 * output of the run holds any of them: stdout and stderr, results.json, the
 * HTML, Markdown and JUnit reports, the audit log if one is written, every
 * file of the run directory, and the host's work directories the run left.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { CANARY_LOCATIONS, canaryTokens } from '../../src/runner/security/canary.ts';
import { cli, harnessProcesses, tempDir, workDirsOf } from './harness.ts';

function filesUnder(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe('security suite', () => {
  test('host-trixie: secrets proved in the images, never in any output; a sandboxed forensic restore; a tampered transfer refused', async () => {
    const dir = tempDir('criu-compat-security-');
    const seed = randomBytes(32);
    const seedFile = join(dir, 'seed');
    writeFileSync(seedFile, seed, { mode: 0o600 });
    const tokens = Object.values(canaryTokens(seed));
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(cfg, ['pools:', '  - {name: t, kernel: host, image: debian-trixie}', 'settings: {workloads: [counter], suites: [security]}', ''].join('\n'));
    const out = join(dir, 'out');
    const p = cli(['run', '--config', cfg, '--out', out, '--no-progress'], { env: { CRIU_COMPAT_CANARY_FILE: seedFile } });
    const r = await p;
    expect([0, 1], r.all).toContain(r.exitCode);
    const runDir = join(out, readdirSync(out)[0]!);
    const results = RunResults.parse(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')));
    const cell = (check: string) => results.cells.find((c) => c.check === check)!;

    // The tokens were in memory and CRIU wrote them out: environment, heap, a private mapping's page, a deleted file.
    const sii = cell('secret-in-image');
    expect(sii.status, sii.reason).toBe('PASS');
    expect(sii.metrics.security).toMatchObject({ environ: true, heap: true, filePrivate: true, deletedFile: true, fileShared: false, exposedImageFiles: 0 });
    // /dev of a namespace node is the host's (rbind): a host path, probed and bound read-only like the work directory.
    expect(cell('forensic-restore-sandbox')).toMatchObject({ status: 'PASS', metrics: { security: { routesBefore: 1, routesAfter: 0, writableBefore: 3, writableAfter: 0, probedPaths: expect.stringMatching(/ \/dev$/) } } });
    const ti = cell('transfer-integrity');
    expect(ti.status, ti.reason).toBe('PASS');
    expect(ti.metrics.security).toMatchObject({ controlVerified: true, refused: true });
    expect(ti.diagnoses.map((d) => d.id)).toEqual(['transfer-tampered']);
    // No runtime and no runtime socket in this node image: said, not passed.
    expect(cell('archive-at-rest').status).toBe('SKIP');
    expect(cell('checkpoint-api-access')).toMatchObject({ status: 'SKIP', reason: expect.stringContaining('/run/containerd/containerd.sock') });

    // Not one token, nor the seed, anywhere the run wrote.
    const outputs = [...filesUnder(runDir), ...workDirsOf(p.pid!).flatMap((d) => filesUnder(join('/tmp', d)))];
    expect(outputs.map((f) => f.replace(`${runDir}/`, ''))).toEqual(expect.arrayContaining(['results.json', 'report.html', 'summary.md', 'junit.xml']));
    const texts = [{ name: 'stdout+stderr', buf: Buffer.from(r.all ?? '') }, ...outputs.map((f) => ({ name: f, buf: readFileSync(f) }))];
    for (const { name, buf } of texts) {
      for (const tok of tokens) expect(buf.includes(tok), `${name} holds a canary token`).toBe(false);
      expect(buf.includes(seed), `${name} holds the seed`).toBe(false);
      expect(buf.includes(seed.toString('hex')), `${name} holds the seed in hex`).toBe(false);
    }
    // An audit log, when the harness writes one, is one of the run directory's files above; it must be root-only.
    for (const f of outputs.filter((p) => /audit/.test(p))) expect(statSync(f).mode & 0o077, f).toBe(0);
    expect(CANARY_LOCATIONS.length).toBe(tokens.length);
    // Nothing of this run is left (other runs may share the machine).
    expect(workDirsOf(p.pid!)).toEqual([]);
    expect(harnessProcesses().filter((l) => l.includes(`-${p.pid}-`))).toEqual([]);
  });

  test('a canary seed file others can read: secret-in-image is ERROR naming it, nothing is dumped', async () => {
    const dir = tempDir('criu-compat-security-seed-');
    const seedFile = join(dir, 'seed');
    writeFileSync(seedFile, randomBytes(32), { mode: 0o644 });
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(cfg, ['pools:', '  - {name: t, kernel: host, image: debian-trixie}', 'settings: {workloads: [counter], suites: [security]}', ''].join('\n'));
    const r = await cli(['run', '--config', cfg, '--out', join(dir, 'out'), '--no-progress'], { env: { CRIU_COMPAT_CANARY_FILE: seedFile } });
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toMatch(/ERROR .*secret-in-image\n.*harness: no canary: CRIU_COMPAT_CANARY_FILE .* has mode 644/);
  });
});
