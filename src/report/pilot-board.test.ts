import { describe, expect, test } from 'vitest';
import { recordedWithPilots } from '../../test/pilot-results.ts';
import { renderPilotBoard, renderText } from '../matrix/text.ts';
import { RunResults } from '../results/schema.ts';
import { renderHtml } from './html.ts';
import { cellIds } from './html/format.ts';
import { pilotsSection } from './html/pilots.ts';
import { resultsJsonSchema } from './json-schema.ts';
import { renderMarkdown } from './markdown.ts';
import { mergeRuns } from './merge.ts';

// The recorded default run with synthetic pilot cells (test/pilot-results.ts); verdicts judged by judgePilots.
const results = recordedWithPilots();
const board = (r: RunResults) => r.pilots!.map((v) => `${v.pool} ${v.pilot} ${v.verdict}`);

describe('the pilot verdict board in every report', () => {
  test('the judged verdicts: each kind once at least, none written by hand', () => {
    expect(board(results)).toEqual([
      'host-trixie redis GO',
      'host-bookworm redis NO-GO',
      'k6.12-trixie redis CONDITIONAL',
      'host-trixie nginx CONDITIONAL',
      'k6.12-trixie nginx NO-GO',
      'host-trixie postgres UNDECIDED',
      'k6.12-trixie postgres CONDITIONAL',
    ]);
    // results.json round-trips through its schema, and the published JSON Schema has the section.
    expect(board(RunResults.parse(JSON.parse(JSON.stringify(results))))).toEqual(board(results));
    expect(JSON.stringify(resultsJsonSchema())).toContain('"UNDECIDED"');
  });

  test('text: pools × pilots, then each verdict that is not GO with why, what it missed and the response', () => {
    const lines = renderPilotBoard(results);
    expect(lines[0]).toMatch(/^pilot verdicts: pool ↓ pilot →\s+redis\s+nginx\s+postgres$/);
    expect(lines[1]).toMatch(/^host-bookworm\s+NO-GO\s+–\s+–$/);
    expect(lines[2]).toMatch(/^host-trixie\s+GO\s+CONDITIONAL\s+UNDECIDED$/);
    const text = lines.join('\n');
    expect(text).toContain('CONDITIONAL  k6.12-trixie › redis: only without established TCP: clients must reconnect');
    expect(text).toContain('redis/checkpoint-restore: held connection survived 0 ≠ 1');
    expect(text).toContain('response: artifact growth: quotas, a TTL and compression for checkpoint images');
    expect(text).toContain("why: redis/leave-running: success rate 0.0% < 100.0% — criu dump failed (exit 1) (CRIU does not understand this kernel's vDSO layout)");
    expect(text).not.toMatch(/GO\s+host-trixie › redis/); // GO needs no explanation
    expect(renderText(results)).toContain(lines.join('\n'));
    const { pilots: _, ...without } = results;
    expect(renderPilotBoard(without)).toEqual([]);
  });

  test('Markdown: the board with conditions in the squares, and the reasons below', () => {
    const md = renderMarkdown(results);
    expect(md).toContain('### Pilot verdicts');
    expect(md).toContain('| pool ↓ · pilot → | redis | nginx | postgres |');
    expect(md).toContain('| host-trixie | 🟢 GO | 🟡 CONDITIONAL: only between these pools: host-trixie → k6.12-trixie | ❔ UNDECIDED |');
    expect(md).toMatch(/- ⛔ \*\*k6\.12-trixie\*\* › nginx: NO-GO — .*\n  - nginx\/leave-running: image size max 48\.0 MiB > 32\.0 MiB/);
    expect(renderMarkdown({ ...results, pilots: undefined })).not.toContain('Pilot verdicts');
  });

  test('HTML: a square per pilot and pool, coloured, its conditions in it, opening its evidence (criteria, stage cells linked, response)', () => {
    const s = pilotsSection(results, cellIds(results)).pilotBoard!;
    expect(s.rows.map((r) => `${r.pool}: ${r.squares.map((q) => q.verdict).join(' ')}`)).toEqual(['host-bookworm: NO-GO NONE NONE', 'host-trixie: GO CONDITIONAL UNDECIDED', 'k6.12-trixie: CONDITIONAL NO-GO CONDITIONAL']);
    const v = s.verdicts.find((x) => x.pool === 'k6.12-trixie' && x.pilot === 'postgres')!;
    expect(v.criteria).toContainEqual({ cell: 'postgres/checkpoint-restore', criterion: 'freeze p95', measured: '640 ms', limit: '≤ 200 ms', ok: 'missed', cls: 'FAIL' });
    const pre = v.cells.find((c) => c.check === 'postgres/checkpoint-restore/pre-copy')!;
    expect(results.cells[Number(pre.id.slice(1))]).toMatchObject({ pool: 'k6.12-trixie', check: 'postgres/checkpoint-restore/pre-copy' });
    const html = renderHtml(results);
    expect(html).toContain('<td class="square v-CONDITIONAL" title="only without established TCP');
    expect(html).toContain('<a href="#pv-k6.12-trixie--redis" data-verdict="pv-k6.12-trixie--redis"><div class="v">CONDITIONAL</div><div class="cond">only without established TCP: clients must reconnect</div></a>');
    expect(html).toContain('<details class="pilot-verdict v-UNDECIDED" id="pv-host-trixie--postgres"');
    expect(html.match(/<details class="pilot-verdict /g)).toHaveLength(7);
    expect(renderHtml({ ...results, pilots: undefined })).not.toContain('id="pilot-board"');
  });

  test('merge: the shards\' verdicts side by side (each judged its own pools)', () => {
    const a = { ...results, pools: results.pools.filter((p) => p.name.startsWith('host-')), pilots: results.pilots!.filter((v) => v.pool.startsWith('host-')), cells: results.cells.filter((c) => c.pool.startsWith('host-')) };
    const b = { ...results, pools: results.pools.filter((p) => !p.name.startsWith('host-')), pilots: results.pilots!.filter((v) => !v.pool.startsWith('host-')), cells: results.cells.filter((c) => !c.pool.startsWith('host-')) };
    expect(board(mergeRuns([{ file: 'a', results: a }, { file: 'b', results: b }], 'm')).sort()).toEqual(board(results).sort());
    const { pilots: _, ...plain } = results;
    expect(mergeRuns([{ file: 'a', results: plain }], 'm').pilots).toBeUndefined();
  });
});
