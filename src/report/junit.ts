import { causeOf } from '../matrix/groups.ts';
import { cellRemedyLine } from '../matrix/remedy-line.ts';
import type { RunResults } from '../results/schema.ts';

function esc(s: string): string {
  // XML 1.0 forbids most control characters even when escaped.
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/**
 * JUnit XML: one testsuite per pool × suite, one testcase per cell. FAIL →
 * <failure>, ERROR → <error>, SKIP → <skipped message="capability…">; the
 * diagnosis and log excerpt go into the element's text.
 */
export function renderJUnit(results: RunResults): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const s = results.summary;
  const totalSec = (Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 1000;
  out.push(`<testsuites name="criu-compat ${esc(results.runId)}" tests="${results.cells.length}" failures="${s.FAIL}" errors="${s.ERROR}" skipped="${s.SKIP}" time="${totalSec.toFixed(3)}">`);
  const keys = [...new Set(results.cells.map((c) => `${c.pool}\0${c.suite}`))];
  for (const key of keys) {
    const [pool, suite] = key.split('\0') as [string, string];
    const cells = results.cells.filter((c) => c.pool === pool && c.suite === suite);
    const count = (st: string) => cells.filter((c) => c.status === st).length;
    const time = cells.reduce((a, c) => a + c.durations.totalMs, 0) / 1000;
    out.push(`  <testsuite name="${esc(`${pool}.${suite}`)}" tests="${cells.length}" failures="${count('FAIL')}" errors="${count('ERROR')}" skipped="${count('SKIP')}" time="${time.toFixed(3)}" timestamp="${esc(cells[0]?.startedAt ?? results.startedAt)}">`);
    for (const c of cells) {
      out.push(`    <testcase classname="${esc(`${pool}.${suite}`)}" name="${esc(c.check)}" time="${(c.durations.totalMs / 1000).toFixed(3)}">`);
      const body = [
        ...c.diagnoses.filter((d) => d.blame !== 'note').flatMap((d) => [`cause: ${d.cause}`, `fix: ${d.remediation}`]),
        ...(c.remedy ? [`remedy (${c.remedy.signature}): ${cellRemedyLine(c)}`] : []),
        ...(c.logExcerpt.length ? ['', ...c.logExcerpt] : []),
      ].join('\n');
      if (c.status === 'FAIL') out.push(`      <failure message="${esc(c.reason)}" type="${esc(causeOf(c)?.id ?? 'FAIL')}">${esc(body)}</failure>`);
      else if (c.status === 'ERROR') out.push(`      <error message="${esc(c.reason)}" type="${esc(c.diagnoses[0]?.id ?? 'ERROR')}">${esc(body)}</error>`);
      else if (c.status === 'SKIP') out.push(`      <skipped message="${esc(c.reason)}"/>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}
