/**
 * Cells an interrupted run never ran are counted as "not run", apart from
 * ERROR, in results.json and in every rendering; results written before the
 * count existed still read, as "none not run".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { renderText } from '../matrix/text.ts';
import { renderHtml } from '../report/html.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { mergeRuns } from '../report/merge.ts';
import { RunResults, summarize } from './schema.ts';

// results.json of a real run of the embedded default, written before notRun existed.
const recorded = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')) as RunResults;

/** The recorded run as if Ctrl-C had come before k6.12-trixie's suites and in the middle of k5.10-trixie's round trips. */
function interrupted(): RunResults {
  const cut = recorded.cells.filter((c) => c.pool === 'k5.10-trixie' && c.suite === 'round-trip').slice(-3);
  const cells = recorded.cells.filter((c) => c.pool !== 'k6.12-trixie' && !cut.includes(c));
  const notRun = [
    ...cut.map((c) => ({ pool: c.pool, suite: c.suite, check: c.check })),
    { pool: 'k6.12-trixie', suite: 'criu-check', check: '*' },
    { pool: 'k6.12-trixie', suite: 'round-trip', check: '*' },
  ];
  return RunResults.parse({ ...recorded, cells, notRun, interrupted: true, summary: summarize(cells, notRun) });
}

describe('not run (interrupted)', () => {
  test('an older results.json without the count still reads, and shows no not-run count', () => {
    const old = RunResults.parse(recorded);
    expect(old.summary.notRun).toBeUndefined();
    expect(renderText(old)).not.toMatch(/not run/);
    expect(renderMarkdown(old)).not.toMatch(/not run/);
  });

  test('the summary counts them apart from ERROR', () => {
    const r = interrupted();
    expect(r.summary.notRun).toBe(5);
    expect(r.summary.ERROR).toBe(summarize(r.cells).ERROR);
    expect(r.summary.PASS + r.summary.FAIL + r.summary.ERROR + r.summary.SKIP).toBe(r.cells.length);
  });

  test('text, Markdown and HTML say "N not run (interrupted)"', () => {
    const r = interrupted();
    const s = r.summary;
    expect(renderText(r)).toContain(`${s.PASS} passed, ${s.FAIL} failed, ${s.ERROR} errors, ${s.SKIP} skipped, 5 not run (interrupted)`);
    expect(renderMarkdown(r)).toContain(`${s.SKIP} skipped · 5 not run (interrupted) · **interrupted**`);
    expect(renderHtml(r)).toMatch(/<span class="badge NOTRUN" id="not-run">5 not run \(interrupted\)<\/span>/);
  });

  test('merging shards adds up what each did not run', () => {
    const a = interrupted();
    const bPools = new Set(['host-bookworm']);
    const b = RunResults.parse({
      ...a,
      pools: a.pools.filter((p) => bPools.has(p.name)),
      cells: [],
      notRun: [{ pool: 'host-bookworm', suite: 'criu-check', check: '*' }],
      summary: summarize([], [{ pool: 'host-bookworm', suite: 'criu-check', check: '*' }]),
    });
    const aOnly = RunResults.parse({ ...a, pools: a.pools.filter((p) => !bPools.has(p.name)), cells: a.cells.filter((c) => !bPools.has(c.pool)) });
    const m = mergeRuns(
      [
        { file: 'a.json', results: aOnly },
        { file: 'b.json', results: b },
      ],
      'merged',
    );
    expect(m.summary.notRun).toBe(6);
    expect(m.notRun).toHaveLength(6);
  });
});
