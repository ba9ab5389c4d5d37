import { causeOf, failureGroups, skipGroups } from '../matrix/groups.ts';
import { listNames, notRunLabel, pivot, poolLabels, totalOf } from '../matrix/model.ts';
import type { RunResults } from '../results/schema.ts';
import { migrationGrids } from '../matrix/migration-grid.ts';
import { groupRemedyLine } from '../matrix/remedy-line.ts';
import { failingReasons, pilotBoard, squareText } from '../matrix/pilot-board.ts';

const ICON = { PASS: '✅', FAIL: '❌', ERROR: '⚠️', SKIP: '⏭️' } as const;

/** Escapes text for a Markdown table cell. */
function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The compact summary for a CI step: headline, the pools × suites matrix, then
 * each failure once per cause with its remediation. `regressions` (from the
 * gate) come first when given.
 */
export function renderMarkdown(results: RunResults, opts: { regressions?: string[] } = {}): string {
  const m = pivot(results);
  const s = results.summary;
  const out: string[] = [];
  const verdict = results.exitCode === 0 ? 'all cells passed or skipped' : results.exitCode === 1 ? 'some tuples FAIL' : 'the harness or an environment broke (ERROR)';
  out.push(`## criu-compat: ${verdict}`, '');
  out.push(`Run \`${results.runId}\` · ${s.PASS} passed · ${s.FAIL} failed · ${s.ERROR} errors · ${s.SKIP} skipped${notRunLabel(results, ' · ')}${results.interrupted ? ' · **interrupted**' : ''}`, '');
  if (opts.regressions?.length) {
    out.push('### Regressions', '', ...opts.regressions.map((r) => `- ${r}`), '');
  }
  out.push(`| pool | kernel | backend | CRIU | runtimes | ${m.suites.join(' | ')} |`, `|---|---|---|---|---|${m.suites.map(() => '---').join('|')}|`);
  for (const p of results.pools) {
    const cols = m.suites.map((suite) => {
      if (p.error) return `${ICON.ERROR} ERROR`;
      const c = m.get(p.name, suite);
      if (!c.status) return '–';
      return `${ICON[c.status]} ${c.status} ${c.counts.PASS}/${totalOf(c)}`;
    });
    const l = poolLabels(p);
    out.push(`| ${md(l.name)} | ${md(l.kernel)} | ${l.backend} | ${l.criu} | ${md(l.runtimes)} | ${cols.join(' | ')} |`);
  }
  out.push('');
  out.push(...pilotSection(results));
  for (const g of migrationGrids(results)) {
    out.push(`**Migration ${md(g.title)}** (rows: source, columns: destination; the diagonal, in bold, is the round trip)`, '');
    out.push(`| source ↓ · destination → | ${g.destinations.map(md).join(' | ')} |`, `|---|${g.destinations.map(() => '---').join('|')}|`);
    for (const s of g.sources)
      out.push(
        `| ${md(s)} | ${g.destinations
          .map((d) => {
            const sq = g.square(s, d);
            const label = sq.cell ? `${ICON[sq.cell.status]} ${sq.cell.status}` : '–';
            return sq.diagonal ? `**${label}**` : label;
          })
          .join(' | ')} |`,
      );
    out.push('');
  }
  const groups = failureGroups(results);
  const poolErrors = results.pools.filter((p) => p.error);
  if (groups.length || poolErrors.length) {
    out.push('### Failures', '');
    for (const g of groups) {
      const d = causeOf(g.first);
      const checks = listNames(g.checks);
      out.push(`- ${ICON[g.status]} **${md(g.pool)}** › ${g.suite} › ${md(checks)}: ${md(g.first.reason)}`);
      if (d) out.push(`  - cause: ${md(d.cause)}`, `  - fix: ${md(d.remediation)}`);
      const remedy = groupRemedyLine(g.cells);
      if (remedy) out.push(`  - remedy re-run: ${md(remedy)}`);
    }
    out.push('');
  }
  const skips = skipGroups(results);
  if (skips.length) {
    // Folded: a SKIP is a capability the tuple lacks, not a breakage, but a reader must be able to see which.
    out.push(`<details><summary>Skipped: ${s.SKIP} (capability missing)</summary>`, '');
    for (const g of skips) out.push(`- ${ICON.SKIP} **${md(g.pool)}**${g.suite ? ` › ${g.suite} › ${md(listNames(g.checks))}` : ''}: ${md(g.missing)}`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}

const VERDICT_ICON = { GO: '🟢', CONDITIONAL: '🟡', 'NO-GO': '⛔', UNDECIDED: '❔' } as const;

/** The pilots' verdict board (pools × pilots, conditions in the square), then each verdict that is not GO: why, what it missed, the response. */
function pilotSection(results: RunResults): string[] {
  const b = pilotBoard(results);
  if (!b) return [];
  const out = ['### Pilot verdicts', '', `| pool ↓ · pilot → | ${b.pilots.map(md).join(' | ')} |`, `|---|${b.pilots.map(() => '---').join('|')}|`];
  for (const pool of b.pools)
    out.push(`| ${md(pool)} | ${b.pilots.map((pilot) => {
      const v = b.square(pool, pilot);
      return v ? `${VERDICT_ICON[v.verdict]} ${md(squareText(v))}` : '–';
    }).join(' | ')} |`);
  out.push('');
  for (const pool of b.pools)
    for (const pilot of b.pilots) {
      const v = b.square(pool, pilot);
      if (!v || v.verdict === 'GO') continue;
      out.push(`- ${VERDICT_ICON[v.verdict]} **${md(pool)}** › ${md(pilot)}: ${v.verdict} — ${md(v.why)}`);
      for (const r of failingReasons(v).slice(0, 4)) out.push(`  - ${md(r)}`);
      if (v.response) out.push(`  - response: ${md(v.response)}`);
    }
  out.push('');
  return out;
}
