/** The gate and baseline commands as CI calls them, on a recorded real run. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT, cli, tempDir } from './harness.ts';

const RUN = join(ROOT, 'fixtures/recorded/results/default-matrix.json');

describe('gate and baseline', () => {
  test('baseline accept, then gate: 0 without regressions, 1 when a version rule breaks, with a Markdown summary', async () => {
    const dir = tempDir('criu-compat-gate-');
    const baseline = join(dir, 'baseline.json');
    const a = await cli(['baseline', 'accept', RUN, '--to', baseline]);
    expect(a.exitCode, a.all).toBe(0);
    expect(JSON.parse(readFileSync(baseline, 'utf8')).runId).toBe('2026-11-25T07-56-25Z-79aa');

    const ok = await cli(['gate', '--baseline', baseline, '--current', RUN]);
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.all).toMatch(/gate: PASS$/);

    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'rules:\n  - name: CRIU 4.1+ on 6.13+ must round-trip\n    when: {criu: ">=4.1", kernel: ">=6.13"}\n    check: "round-trip/*"\n    must: PASS_OR_SKIP\n');
    const summary = join(dir, 'summary.md');
    const bad = await cli(['gate', '--baseline', baseline, '--current', RUN, '--policy', policy, '--summary', summary]);
    expect(bad.exitCode, bad.all).toBe(1);
    expect(bad.all).toMatch(/^REGRESSIONS \(9\)\n  host-trixie › round-trip\/counter, .* and 6 more: must PASS_OR_SKIP → FAIL/m);
    expect(bad.all).toMatch(/fix: Use CRIU >= 4\.2/);
    const md = readFileSync(summary, 'utf8');
    expect(md.split('\n')[0]).toBe('## criu-compat gate: FAIL');
    expect(md.indexOf('### Regressions (9)')).toBeLessThan(md.indexOf('| pool |'));
  });

  test('a malformed baseline or policy: exit 2, one line naming the file, the path and what was expected; nothing written', async () => {
    const dir = tempDir('criu-compat-gate-');
    const base = join(dir, 'b.json');
    writeFileSync(base, JSON.stringify({ ...JSON.parse(readFileSync(RUN, 'utf8')), exitCode: 7 }));
    const summary = join(dir, 'summary.md');
    const r = await cli(['gate', '--baseline', base, '--current', RUN, '--summary', summary]);
    expect(r.exitCode).toBe(2);
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(r.all).toMatch(new RegExp(`${base}: at exitCode: `));
    const pol = join(dir, 'p.yaml');
    writeFileSync(pol, 'knownIssues:\n  - {pool: "*", check: "*", reason: x, expires: soon}\n');
    const p = await cli(['gate', '--baseline', RUN, '--current', RUN, '--policy', pol, '--summary', summary]);
    expect(p.exitCode).toBe(2);
    expect(p.all).toMatch(new RegExp(`${pol}: at knownIssues\\[0\\]\\.expires: a date YYYY-MM-DD`));
    expect(existsSync(summary)).toBe(false);
  });

  test('a run that lacks a pool, is interrupted, is empty or holds a cell twice fails the gate (exit 1)', async () => {
    const dir = tempDir('criu-compat-gate-');
    const run = JSON.parse(readFileSync(RUN, 'utf8'));
    const variant = (name: string, change: (r: typeof run) => void) => {
      const r = structuredClone(run);
      change(r);
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(r));
      return file;
    };
    const lacking = variant('lacking', (r) => {
      r.pools = r.pools.filter((p: { name: string }) => p.name !== 'k6.12-bookworm');
      r.cells = r.cells.filter((c: { pool: string }) => c.pool !== 'k6.12-bookworm');
    });
    const g = await cli(['gate', '--baseline', RUN, '--current', lacking]);
    expect(g.exitCode, g.all).toBe(1);
    expect(g.stdout).toMatch(/^REGRESSIONS \(1\)\n  k6\.12-bookworm › all cells: in the baseline \(50 cells, \d+ PASS\) → not in this run$/m);
    expect(g.stdout).toMatch(/gate: FAIL \(1 regression\)$/);
    // Retired by the policy until a date: passes, and says so.
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'retired:\n  - {pool: k6.12-bookworm, reason: "bookworm leaves the fleet", expires: 2999-12-31}\n');
    const retired = await cli(['gate', '--baseline', RUN, '--current', lacking, '--policy', policy]);
    expect(retired.exitCode, retired.all).toBe(0);
    expect(retired.stdout).toMatch(/^RETIRED by the policy \(1\)\n  k6\.12-bookworm › all cells: .*\n      retired until 2999-12-31: bookworm leaves the fleet$/m);

    for (const [name, change, line] of [
      ['interrupted', (r: typeof run) => (r.interrupted = true), /run › .*: complete → interrupted/],
      ['empty', (r: typeof run) => Object.assign(r, { pools: [], cells: [] }), /run › .*: 9 pools, 471 cells → 0 pools, 0 cells/],
      ['duplicated', (r: typeof run) => r.cells.push(r.cells[5]), /› .*: once → 2 times/],
    ] as const) {
      const c = await cli(['gate', '--baseline', RUN, '--current', variant(name, change)]);
      expect(c.exitCode, `${name}: ${c.all}`).toBe(1);
      expect(c.stdout, name).toMatch(line);
    }
  });

  test('--summary to a path that cannot be written: one line, exit 2, and no verdict claimed', async () => {
    const dir = tempDir('criu-compat-gate-');
    for (const summary of [dir, '/nonexistent/dir/x.md']) {
      const r = await cli(['gate', '--baseline', RUN, '--current', RUN, '--summary', summary]);
      expect(r.exitCode, r.all).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^criu-compat: --summary ${summary}: cannot write the summary there \\((it is a directory|its directory does not exist)\\); nothing was judged$`));
    }
    expect(existsSync('/nonexistent')).toBe(false);
  });

  test('baseline accept refuses an interrupted run, an empty run and duplicate cells (exit 2, one line); so does the gate for such a baseline', async () => {
    const dir = tempDir('criu-compat-gate-');
    const run = JSON.parse(readFileSync(RUN, 'utf8'));
    const to = join(dir, 'baseline.json');
    for (const [name, change, why] of [
      ['interrupted', (r: typeof run) => (r.interrupted = true), 'at interrupted: a complete run \\(this one was interrupted'],
      ['empty', (r: typeof run) => Object.assign(r, { pools: [], cells: [] }), 'at pools: a run with at least one pool'],
      ['duplicated', (r: typeof run) => r.cells.push(r.cells[5]), 'at cells\\[471\\]: each cell once \\(.* is also cells\\[5\\]\\)'],
    ] as const) {
      const r = structuredClone(run);
      change(r);
      // A run directory, as CI passes it.
      const runDir = join(dir, name);
      mkdirSync(runDir);
      writeFileSync(join(runDir, 'results.json'), JSON.stringify(r));
      const a = await cli(['baseline', 'accept', runDir, '--to', to]);
      expect(a.exitCode, a.all).toBe(2);
      expect(a.all.trim().split('\n')).toHaveLength(1);
      expect(a.stderr).toMatch(new RegExp(`^criu-compat: ${join(runDir, 'results.json')}: ${why}`));
      expect(existsSync(to)).toBe(false);
      const g = await cli(['gate', '--baseline', runDir, '--current', RUN]);
      expect(g.exitCode, g.all).toBe(2);
      expect(g.stdout).toBe('');
      expect(g.stderr).toMatch(/a baseline must be a run 'baseline accept' takes$/);
    }
  });

  test('gate --help states what fails the gate', async () => {
    const h = await cli(['gate', '--help']);
    expect(h.exitCode).toBe(0);
    for (const rule of [/minSuccessRate/, /a pool of the baseline absent now/, /interrupted, without pools or cells/, /retires it/, /"remove this entry"/, /--history runs; the runs are named/, /checked writable before judging/])
      expect(h.stdout).toMatch(rule);
  });
});
