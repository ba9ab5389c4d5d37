/** Cells say what they are about in fields of their own (feature, workload, mode, size), and capabilities come from them. */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';

describe('structured cell fields', () => {
  test('a real run: feature probes carry their feature, round trips their workload, mode and size; capabilities agree', async () => {
    const dir = tempDir('criu-compat-fields-');
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(cfg, ['pools:', '  - {name: t, kernel: host, image: debian-trixie, bigMemMiB: [64]}', 'settings: {workloads: [counter, big-mem], suites: [criu-check, round-trip]}', ''].join('\n'));
    const out = join(dir, 'out');
    const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
    expect([0, 1], r.all).toContain(r.exitCode);
    const results = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
    const features = results.cells.filter((c) => c.check.startsWith('feature:'));
    expect(features.length).toBeGreaterThan(10);
    for (const c of features) expect(c.feature).toBe(c.check.slice('feature:'.length));
    expect(results.cells.find((c) => c.check === 'version')!.feature).toBeUndefined();
    const caps = Object.fromEntries(features.filter((c) => c.status === 'PASS' || c.status === 'SKIP').map((c) => [c.feature!, c.status === 'PASS']));
    expect(results.pools[0]!.capabilities).toEqual(caps);
    const rt = (check: string) => results.cells.find((c) => c.suite === 'round-trip' && c.check === check)!;
    expect(rt('counter')).toMatchObject({ workload: 'counter', mode: 'dump' });
    expect(rt('counter').sizeMiB).toBeUndefined();
    expect(rt('counter/pre-dump')).toMatchObject({ workload: 'counter', mode: 'pre-dump' });
    expect(rt('counter/leave-running')).toMatchObject({ workload: 'counter', mode: 'leave-running' });
    expect(rt('big-mem/64MiB')).toMatchObject({ workload: 'big-mem', mode: 'dump', sizeMiB: 64 });
    // settings.workloadBuild host (the default): every round trip names the libc its fixture carries; probes have none.
    for (const c of results.cells.filter((x) => x.suite === 'round-trip')) expect(c.fixtureLibc).toMatch(/^glibc \d+\.\d+ \(static, built on this machine\)$/);
    for (const c of features) expect(c.fixtureLibc).toBeUndefined();
  });

  test('settings.workloadBuild image: fixtures built in the node image with its own cc and libc; an image without cc is ERROR naming gcc', async () => {
    const dir = tempDir('criu-compat-wbuild-');
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(
      cfg,
      [
        'images:',
        '  trixie-cc: {debootstrap: {suite: trixie, include: [criu, iptables, iproute2, procps, gcc, libc6-dev]}}',
        'pools:',
        '  - {name: cc, kernel: host, image: trixie-cc}',
        '  - {name: nocc, kernel: host, image: debian-trixie}',
        'settings: {workloads: [signalfd], suites: [round-trip], workloadBuild: image}',
        '',
      ].join('\n'),
    );
    const out = join(dir, 'out');
    const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
    expect(r.exitCode, r.all).toBe(2);
    const results = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
    const cell = results.cells.find((c) => c.pool === 'cc' && c.check === 'signalfd')!;
    expect(cell).toMatchObject({ status: 'PASS', fixtureLibc: expect.stringMatching(/^glibc \d+\.\d+ \(static, built in node image trixie-cc\)$/) });
    expect(cell.fixtureLibc).not.toMatch(/glibc 2\.36 /); // trixie's glibc, not this machine's bookworm one
    const nocc = results.cells.find((c) => c.pool === 'nocc')!;
    expect(nocc).toMatchObject({ status: 'ERROR' });
    expect(nocc.reason).toMatch(/node image debian-trixie has no C compiler: add gcc and libc6-dev/);
  }, 900_000);
});
