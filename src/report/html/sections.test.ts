import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults, summarize } from '../../results/schema.ts';
import { renderHtml } from '../html.ts';
import { detailsSection, failuresSection } from './cells.ts';
import { cellIds } from './format.ts';
import { notRunSection } from './header.ts';
import { matrixSection } from './matrix.ts';
import { scaleChart } from './scale-chart.ts';

// results.json of a real run of the embedded default (3 host pools, 6 VM pools).
const results = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const ids = cellIds(results);
const broken = (s: string) => s === 'FAIL' || s === 'ERROR';

describe('HTML report sections of a recorded real run', () => {
  test('cell details: every cell once, failures first in the model itself (not left to a script)', () => {
    const d = detailsSection(results, ids);
    expect(new Set(d.map((x) => x.id)).size).toBe(results.cells.length);
    const firstOk = d.findIndex((x) => !broken(x.status));
    expect(firstOk).toBe(results.summary.FAIL + results.summary.ERROR);
    expect(d.slice(firstOk).every((x) => !broken(x.status))).toBe(true);
    expect(renderHtml(results)).not.toContain('insertBefore'); // the page no longer reorders them
  });

  test("failures grouped by pool, suite and cause: host-bookworm's 41 vDSO failures are one group opening to its 41 cells", () => {
    const f = failuresSection(results, ids);
    expect(f.groups.map((g) => `${g.pool} ${g.suite} ${g.count}`)).toEqual([
      'host-bookworm criu-check 41',
      'host-bookworm round-trip 10',
      'host-trixie round-trip 9',
      'k5.10-bookworm round-trip 8',
      'k5.10-trixie round-trip 8',
    ]);
    const g = f.groups[0]!;
    expect(g.headline).toBe("CRIU does not understand this kernel's vDSO layout");
    expect(g.cause!.remediation).toMatch(/CRIU >= 4\.1/);
    for (const c of g.cells) expect(results.cells[Number(c.id.slice(1))]).toMatchObject({ pool: 'host-bookworm', suite: 'criu-check', check: c.check, status: 'FAIL' });
    expect(f.groups.reduce((n, x) => n + x.count, 0)).toBe(results.summary.FAIL + results.summary.ERROR);
    expect(f.poolErrors).toEqual([]);

    const html = renderHtml(results);
    const groups = html.split('<details class="failure-group ').slice(1);
    expect(groups).toHaveLength(5);
    expect(groups[0]!.split('</details>')[0]!.match(/<a href="#c\d+" data-cell="c\d+"/g)).toHaveLength(41);
    expect(html.indexOf('id="failures"')).toBeLessThan(html.indexOf('id="details"')); // failures still come first
  });

  test('failures without a diagnosis are grouped by their reason, which heads the group', () => {
    const r = { ...results, cells: results.cells.map((c) => ({ ...c, diagnoses: [] })) };
    const groups = failuresSection(r, cellIds(r)).groups;
    const trixie = groups.filter((g) => g.pool === 'host-trixie');
    expect(trixie.length).toBeGreaterThan(0);
    for (const g of trixie) expect(g.cause).toBeNull();
    expect(trixie.map((g) => g.headline)).toEqual([...new Set(r.cells.filter((c) => c.pool === 'host-trixie' && c.status === 'FAIL').map((c) => c.reason))]);
  });

  test('a pool that could not be set up heads the failures', () => {
    const r = { ...results, pools: results.pools.map((p) => (p.name === 'k6.1-trixie' ? { ...p, error: 'qemu did not start' } : p)) };
    expect(failuresSection(r, cellIds(r)).poolErrors).toEqual([{ pool: 'k6.1-trixie', error: 'qemu did not start' }]);
    expect(renderHtml(r)).toMatch(/<span class="badge ERROR">ERROR<\/span> <strong>k6\.1-trixie<\/strong>: qemu did not start/);
  });

  test("matrix: the features column summarises a pool's probes and links to a broken one", () => {
    const m = matrixSection(results, ids);
    const col = m.columns.findIndex((c) => c.check === 'features');
    const row = (pool: string) => m.pools.find((p) => p.name === pool)!.cells[col]!;
    expect(row('k6.12-trixie')).toMatchObject({ status: 'PASS', label: '41/42', id: '' });
    expect(row('host-bookworm')).toMatchObject({ status: 'FAIL', label: '0/39' });
    expect(results.cells[Number(row('host-bookworm').id.slice(1))]!.check).toMatch(/^feature:/);
  });

  test('scale chart: one line per pool with big-mem points', () => {
    expect(scaleChart(results)!.match(/<polyline/g)).toHaveLength(5);
    expect(scaleChart({ ...results, cells: results.cells.filter((c) => !c.check.startsWith('big-mem/')) })).toBeNull();
  });

  test('not run: an interrupted run lists per pool and suite what had no verdict', () => {
    const cut = results.cells.filter((c) => c.pool === 'k5.10-trixie' && c.suite === 'round-trip').slice(-2);
    const cells = results.cells.filter((c) => !cut.includes(c) && c.pool !== 'k6.12-trixie');
    const notRun = [...cut.map((c) => ({ pool: c.pool, suite: c.suite, check: c.check })), { pool: 'k6.12-trixie', suite: 'round-trip', check: '*' }];
    const r = RunResults.parse({ ...results, cells, notRun, interrupted: true, summary: summarize(cells, notRun) });
    const s = notRunSection(r);
    expect(s.notRun).toBe('3 not run (interrupted)');
    expect(s.notRunCells).toEqual([
      { pool: 'k5.10-trixie', suite: 'round-trip', names: cut.map((c) => c.check).join(', ') },
      { pool: 'k6.12-trixie', suite: 'round-trip', names: 'all checks' },
    ]);
    expect(renderHtml(r)).toContain('<li><strong>k6.12-trixie</strong> › round-trip › all checks</li>');
    expect(notRunSection(results).notRunCells).toEqual([]);
    expect(renderHtml(results)).not.toContain('id="not-run-cells"');
  });
});
