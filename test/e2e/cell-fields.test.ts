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
  });
});
