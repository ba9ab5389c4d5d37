/**
 * Leaving nothing behind, for real: a workload that hangs, Ctrl-C in the
 * middle of a run, kill -9 of the harness, and --keep-artifacts permissions.
 */
import { readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, harnessProcesses, strayMounts, waitFor, workDirsOf, tempDir } from './harness.ts';

function config(verifyMs: number, workloads: string[], suites = ['round-trip']): string {
  const dir = tempDir('criu-compat-cfg-');
  const file = join(dir, 'pools.yaml');
  writeFileSync(
    file,
    [
      'pools:',
      '  - name: trixie-nobp',
      '    kernel: host',
      '    image: debian-trixie',
      '    criu: {env: {CRIU_FAULT: "130"}}',
      'settings:',
      `  workloads: [${workloads.join(', ')}]`,
      `  suites: [${suites.join(', ')}]`,
      `  timeouts: {verifyMs: ${verifyMs}}`,
      '',
    ].join('\n'),
  );
  return file;
}

const hangRunning = () => harnessProcesses().some((p) => /\/run\/criu-compat\/bin\/hang/.test(p));

describe('cleanup', () => {
  test('a workload that never answers: FAIL after the verify timeout, killed; --keep-artifacts keeps root-only images', async () => {
    const out = tempDir('criu-compat-e2e-');
    const r = await cli(['run', '--config', config(2000, ['hang', 'counter']), '--out', out, '--keep-artifacts', '--no-progress']);
    expect(r.exitCode, r.all).toBe(1);
    const runDir = join(out, readdirSync(out)[0]!);
    const res = RunResults.parse(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')));
    const hang = res.cells.find((c) => c.check === 'hang')!;
    expect(hang).toMatchObject({ status: 'FAIL', reason: 'restored workload gave no verdict within 2000 ms' });
    expect(res.cells.find((c) => c.check === 'counter')!.status).toBe('PASS');
    expect(harnessProcesses()).toEqual([]);
    // Kept artifacts: directories 0700, images 0600.
    const img = join(hang.artifacts!, 'img');
    expect(statSync(join(runDir, 'artifacts')).mode & 0o777).toBe(0o700);
    expect(statSync(hang.artifacts!).mode & 0o777).toBe(0o700);
    const pages = readdirSync(img).filter((f) => f.startsWith('pages-'));
    expect(pages.length).toBeGreaterThan(0);
    for (const f of readdirSync(img)) expect(statSync(join(img, f)).mode & 0o077, f).toBe(0);
  });

  test('Ctrl-C in the middle of a round trip: exit 130, environments and work directory gone', async () => {
    const out = tempDir('criu-compat-e2e-');
    const p = cli(['run', '--config', config(120_000, ['hang']), '--out', out, '--no-progress']);
    expect(await waitFor(hangRunning, 120_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500)); // let it get into dump/restore/verify
    const t0 = Date.now();
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(harnessProcesses()).toEqual([]);
    expect(strayMounts()).toEqual([]);
    expect(workDirsOf(p.pid!)).toEqual([]);
  });

  test('kill -9 of the harness: environments die with it; the next run sweeps the stale work directory', async () => {
    const out = tempDir('criu-compat-e2e-');
    const p = cli(['run', '--config', config(120_000, ['hang']), '--out', out, '--no-progress']);
    expect(await waitFor(hangRunning, 120_000)).toBe(true);
    p.kill('SIGKILL');
    await p;
    expect(await waitFor(() => harnessProcesses().length === 0, 10_000), harnessProcesses().join('\n')).toBe(true);
    const stale = workDirsOf(p.pid!);
    expect(stale).toHaveLength(1); // it could not clean up after itself…
    const again = await cli(['run', '--config', config(2000, ['counter']), '--out', out, '--no-progress']);
    expect(again.exitCode, again.all).toBe(0);
    expect(existsSync(join(tmpdir(), stale[0]!))).toBe(false); // …so the next run did
    expect(harnessProcesses()).toEqual([]);
  });
});
