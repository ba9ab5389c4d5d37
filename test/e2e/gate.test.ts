/** The gate and baseline commands as CI calls them, on a recorded real run. */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
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
    expect(md.indexOf('### Regressions')).toBeLessThan(md.indexOf('| pool |'));
    expect(md).toMatch(/\*\*Gate: FAIL\*\*/);
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
});
