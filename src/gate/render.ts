import { listNames } from '../matrix/model.ts';
import { renderMarkdown } from '../report/markdown.ts';
import type { RunResults } from '../results/schema.ts';
import type { CellRef, Finding, GateResult } from './gate.ts';
import type { Policy } from './policy.ts';

export interface FindingGroup {
  f: Finding;
  whats: string[];
}

/** One entry per pool and cause: a broken CRIU does not print the same remedy fifty times. */
export function groupFindings(fs: readonly Finding[]): FindingGroup[] {
  const groups = new Map<string, FindingGroup>();
  for (const f of fs) {
    const k = `${f.pool}\0${f.kind}\0${f.before}\0${f.after}\0${f.detail}\0${f.also?.join('\0') ?? ''}`;
    const g = groups.get(k);
    if (g) g.whats.push(f.what);
    else groups.set(k, { f, whats: [f.what] });
  }
  return [...groups.values()];
}

function byPool(cells: readonly CellRef[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const c of cells) {
    const name = `${c.what} (${c.status})`;
    const l = m.get(c.pool);
    if (l) l.push(name);
    else m.set(c.pool, [name]);
  }
  return m;
}

const also = (f: Finding) => (f.also?.length ? ` (also: ${f.also.join('; ')})` : '');
const unstableNote = (policy: Policy) => (policy.unstable === 'fail' ? 'fails the gate by policy' : 'reported, does not fail the gate');

export function verdictLine(r: GateResult): string {
  return r.passed ? 'gate: PASS' : `gate: FAIL (${r.regressions.length} regression${r.regressions.length === 1 ? '' : 's'}${r.regressions.length ? '' : `, ${r.unstable.length} unstable`})`;
}

/** The gate's verdict for a terminal: each section grouped per pool and cause, the verdict last. */
export function renderGate(r: GateResult, policy: Policy): string {
  const out: string[] = [];
  const lines = (fs: Finding[]) => groupFindings(fs).map(({ f, whats }) => `  ${f.pool} › ${listNames(whats)}: ${f.before} → ${f.after}${also(f)}\n      ${f.detail}`);
  const cells = (cs: CellRef[]) => [...byPool(cs)].map(([pool, names]) => `  ${pool} › ${listNames(names)}`);
  if (r.regressions.length) out.push(`REGRESSIONS (${r.regressions.length})`, ...lines(r.regressions), '');
  if (r.unstable.length) out.push(`UNSTABLE (${r.unstable.length}; ${unstableNote(policy)})`, ...lines(r.unstable), '');
  if (r.expected.length) out.push(`EXPECTED by known issues (${r.expected.length})`, ...lines(r.expected), '');
  if (r.retired.length) out.push(`RETIRED by the policy (${r.retired.length})`, ...lines(r.retired), '');
  if (r.improvements.length) out.push(`IMPROVEMENTS (${r.improvements.length})`, ...lines(r.improvements), '');
  if (r.newCells.length) out.push(`NEW cells (${r.newCells.length})`, ...cells(r.newCells), '');
  if (r.missingCells.length) out.push(`NOT RUN now, did not pass in the baseline (${r.missingCells.length})`, ...cells(r.missingCells), '');
  out.push(verdictLine(r));
  return out.join('\n');
}

/** At most this many names per entry of the Markdown summary (a CI step summary is limited to 1 MiB). */
const MAX_NAMES = 100;

function mdNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES).map(md).join(', ');
  return names.length > MAX_NAMES ? `${shown} and ${names.length - MAX_NAMES} more` : shown;
}

function md(s: string): string {
  return s.replace(/[\\`*_[\]<>|]/g, '\\$&').replace(/\n/g, ' ');
}

/**
 * The gate's summary for a CI step: the gate's verdict as the headline, then
 * regressions, unstable, expected, retired, improved, missing and new cells,
 * each listed (grouped per pool and cause); the run's own matrix below.
 */
export function renderGateMarkdown(r: GateResult, policy: Policy, baseline: RunResults, current: RunResults): string {
  const out: string[] = [];
  const verdict = r.passed ? 'PASS' : 'FAIL';
  const counts = [
    `${r.regressions.length} regressions`,
    `${r.unstable.length} unstable`,
    `${r.expected.length} expected by known issues`,
    `${r.retired.length} retired`,
    `${r.improvements.length} improved`,
    `${r.missingCells.length} not run`,
    `${r.newCells.length} new`,
  ];
  out.push(`## criu-compat gate: ${verdict}`, '', `Run \`${current.runId}\` against baseline \`${baseline.runId}\`: ${counts.join(' · ')}`, '');
  const section = (title: string, fs: Finding[]) => {
    if (!fs.length) return;
    out.push(`### ${title} (${fs.length})`, '');
    for (const { f, whats } of groupFindings(fs)) out.push(`- **${md(f.pool)}** › ${mdNames(whats)}: ${md(f.before)} → ${md(f.after)}${md(also(f))}`, `  - ${md(f.detail)}`);
    out.push('');
  };
  const cellSection = (title: string, cs: CellRef[]) => {
    if (!cs.length) return;
    out.push(`### ${title} (${cs.length})`, '');
    for (const [pool, names] of byPool(cs)) out.push(`- **${md(pool)}** › ${mdNames(names)}`);
    out.push('');
  };
  section('Regressions', r.regressions);
  section(`Unstable (${unstableNote(policy)})`, r.unstable);
  section('Expected by known issues', r.expected);
  section('Retired by the policy', r.retired);
  section('Improvements', r.improvements);
  cellSection('Not run now, did not pass in the baseline', r.missingCells);
  cellSection('New cells', r.newCells);
  // The run's own report follows, its headline demoted below the gate's.
  out.push(renderMarkdown(current).replace(/^## criu-compat: (.*)$/m, '### The run: $1'));
  return `${out.join('\n')}\n`;
}
