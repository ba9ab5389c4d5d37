/** Sharding for large pools: two real shard runs (as two CI matrix jobs would), joined with merge. */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';

describe('run --shard and merge', () => {
  test('shards split the pools; merge joins them into one run with reports; a pool in two shards is refused', async () => {
    const dir = tempDir('criu-compat-shard-');
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(
      cfg,
      [
        'pools:',
        '  - {name: a-bookworm, kernel: host, image: debian-bookworm}',
        '  - {name: b-trixie, kernel: host, image: debian-trixie, criu: {env: {CRIU_FAULT: "130"}}}',
        '  - {name: c-trixie, kernel: host, image: debian-trixie, criu: {env: {CRIU_FAULT: "130"}}}',
        'settings: {workloads: [counter], suites: [round-trip]}',
        '',
      ].join('\n'),
    );
    const s1 = join(dir, 's1');
    const s2 = join(dir, 's2');
    const r1 = await cli(['run', '--config', cfg, '--shard', '1/2', '--out', s1, '--no-progress']);
    const r2 = await cli(['run', '--config', cfg, '--shard', '2/2', '--out', s2, '--no-progress']);
    const read = (d: string) => RunResults.parse(JSON.parse(readFileSync(join(d, readdirSync(d)[0]!, 'results.json'), 'utf8')));
    const a = read(s1);
    const b = read(s2);
    expect(a.pools.map((p) => p.name)).toEqual(['a-bookworm', 'c-trixie']);
    expect(b.pools.map((p) => p.name)).toEqual(['b-trixie']);
    expect(a.shard).toEqual({ index: 1, count: 2 });
    expect(r1.exitCode).toBe(1); // bookworm's CRIU fails on this kernel
    expect(r2.exitCode, r2.all).toBe(0);

    const out = join(dir, 'merged');
    const m = await cli(['merge', join(s1, readdirSync(s1)[0]!), join(s2, readdirSync(s2)[0]!), '--out', out]);
    expect(m.exitCode, m.all).toBe(1);
    const merged = read(out);
    expect(merged.pools.map((p) => p.name).sort()).toEqual(['a-bookworm', 'b-trixie', 'c-trixie']);
    expect(merged.cells).toHaveLength(a.cells.length + b.cells.length);
    expect(merged.summary.PASS).toBe(a.summary.PASS + b.summary.PASS);
    expect(merged.mergedFrom!.map((x) => x.shard)).toEqual(['1/2', '2/2']);
    expect(readdirSync(join(out, readdirSync(out)[0]!))).toContain('report.html');

    const twice = await cli(['merge', join(s2, readdirSync(s2)[0]!), join(s2, readdirSync(s2)[0]!), '--out', join(dir, 'bad')]);
    expect(twice.exitCode).toBe(2);
    expect(twice.all).toMatch(/at pools\[0\]\.name: a pool no other shard has \("b-trixie" is also in/);
    // Half a split is no matrix: refused, nothing written.
    const half = await cli(['merge', join(s1, readdirSync(s1)[0]!), '--out', join(dir, 'half')]);
    expect(half.exitCode).toBe(2);
    expect(half.stderr.trim()).toBe("criu-compat: merge: shard 2 of 2 missing; pass every shard's run");
    expect(existsSync(join(dir, 'half'))).toBe(false);
  }, 300_000);
});
