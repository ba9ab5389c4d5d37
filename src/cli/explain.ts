import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { cellRemedyLine } from '../matrix/remedy-line.ts';
import { fmtNumber } from '../report/html/format.ts';
import { readRun } from '../report/write.ts';
import type { Cell, RunResults } from '../results/schema.ts';

export const EXPLAIN_HELP = `Usage: criu-compat explain RUN CELL

Prints the whole story of one cell of a run: what it is, where it ran, the
commands, the timeline of its steps, its figures (durations, metrics, the
distribution over repetitions), the CRIU log excerpt, what the workload
said, the diagnoses and the remedy re-run. Only what results.json holds:
never checkpoint images or memory contents.

RUN   a run directory or its results.json
CELL  the cell as the matrix prints it, "POOL › SUITE › CHECK", or as words:
      POOL SUITE CHECK (quoted or not; a check may hold spaces and slashes,
      e.g. k6.1-trixie migration "counter/cold → k6.12-trixie"). A check alone
      is enough when only one cell has it.

Exit: 0 printed; 2 RUN unreadable, or CELL unknown or ambiguous (the close
matches are listed).`;

/** The key a cell has in the matrix's text and here: "POOL › SUITE › CHECK". */
export function cellKey(c: Pick<Cell, 'pool' | 'suite' | 'check'>): string {
  return `${c.pool} › ${c.suite} › ${c.check}`;
}

/** CELL names no cell, or more than one: the message and the cells it may have meant. */
export class CellLookupError extends UsageError {
  readonly candidates: string[];
  constructor(message: string, candidates: string[]) {
    super(message);
    this.name = 'CellLookupError';
    this.candidates = candidates;
  }
}

/**
 * The cell WORDS name in RESULTS: "POOL › SUITE › CHECK", or POOL SUITE
 * CHECK as words (the check is the rest, spaces and all), or a check alone
 * when it is unique. Unknown or ambiguous: a CellLookupError with the close
 * matches.
 */
export function findCell(results: RunResults, words: readonly string[]): Cell {
  const spec = words.join(' ').trim();
  if (!spec) throw new CellLookupError('explain needs a CELL (POOL SUITE CHECK)', []);
  const parts = spec.includes('›') ? spec.split('›').map((s) => s.trim()) : splitWords(spec);
  const exact = results.cells.filter((c) => (parts.length >= 3 ? c.pool === parts[0] && c.suite === parts[1] && c.check === parts.slice(2).join(' ') : false));
  if (exact.length === 1) return exact[0]!;
  if (exact.length > 1) throw new CellLookupError(`"${spec}" names ${exact.length} cells in run ${results.runId} (a merged run holding it twice?)`, exact.map(cellKey));
  // A check alone (or a key whose words split differently): unique by its whole text.
  const byCheck = results.cells.filter((c) => c.check === spec || cellKey(c) === spec);
  if (byCheck.length === 1) return byCheck[0]!;
  if (byCheck.length > 1) throw new CellLookupError(`"${spec}" is ambiguous in run ${results.runId}: give POOL SUITE CHECK`, byCheck.map(cellKey));
  throw new CellLookupError(`no cell "${spec}" in run ${results.runId}`, closeMatches(results.cells, spec, parts));
}

/** POOL SUITE CHECK: the first two words, then the rest as the check. */
function splitWords(spec: string): string[] {
  const m = /^(\S+)\s+(\S+)\s+(.+)$/.exec(spec);
  return m ? [m[1]!, m[2]!, m[3]!] : [spec];
}

/** Up to 8 cells nearest to what was asked: same pool/suite and a check within a few edits or containing it, or the check elsewhere. */
function closeMatches(cells: readonly Cell[], spec: string, parts: string[]): string[] {
  const check = (parts.length >= 3 ? parts.slice(2).join(' ') : spec).toLowerCase();
  const scored = cells.map((c) => {
    const k = c.check.toLowerCase();
    let score = editDistance(k, check);
    if (k.includes(check) || check.includes(k)) score = Math.min(score, 1);
    if (parts.length >= 3) {
      if (c.pool !== parts[0]) score += 2;
      if (c.suite !== parts[1]) score += 2;
    }
    return { key: cellKey(c), score };
  });
  const limit = Math.max(3, Math.floor(check.length / 3));
  return scored
    .filter((s) => s.score <= limit)
    .sort((a, b) => a.score - b.score || a.key.localeCompare(b.key))
    .slice(0, 8)
    .map((s) => s.key);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

const indent = (lines: readonly string[], by = '  ') => lines.map((l) => `${by}${l}`);

/** The whole story of one cell, as text. */
export function renderExplain(results: RunResults, c: Cell): string {
  const out: string[] = [`${cellKey(c)}: ${c.status}`, `  ${c.reason}`, ''];
  const pool = results.pools.find((p) => p.name === c.pool);
  const what = [
    c.workload && `workload ${c.workload}`,
    c.mode && `mode ${c.mode}`,
    c.sizeMiB && `${c.sizeMiB} MiB`,
    c.runtime && `runtime ${c.runtime}`,
    c.feature && `feature ${c.feature}`,
    c.source && c.destination && `${c.source} → ${c.destination}`,
    c.pilot && `pilot ${c.pilot}`,
    c.fixtureLibc && `fixture built with ${c.fixtureLibc}`,
  ].filter(Boolean);
  out.push('what', ...indent([what.length ? what.join(', ') : c.check, `run ${results.runId}, started ${c.startedAt}`]));
  if (pool) {
    const inv = pool.inventory;
    const env = Object.entries(pool.criuEnv).map(([k, v]) => `${k}=${v}`).join(' ');
    out.push(...indent([`pool ${pool.name}: kernel ${inv?.kernelRelease ?? pool.kernel}, ${pool.backend}${inv?.vm ? ` (${inv.vm.accelerator})` : ''}, CRIU ${inv?.criuVersion ?? 'unknown'}${env ? `, CRIU environment ${env}` : ''}`]));
  }
  out.push('');

  out.push('commands', ...(c.commands.length ? indent(c.commands) : ['  (none recorded)']), '');

  if (c.timeline?.length) {
    const w = Math.max(...c.timeline.map((e) => e.atMs.toFixed(1).length));
    out.push('timeline (ms since the attempt started)', ...indent(c.timeline.map((e) => `${e.atMs.toFixed(1).padStart(w)}  ${e.event}`)), '');
  } else out.push('timeline', '  (not recorded: a cell of an older run, or one that never started)', '');

  out.push('figures', ...indent(figures(c)), '');

  if (c.logExcerpt.length) out.push('log excerpt (errors, warnings and the last lines)', ...indent(c.logExcerpt), '');
  if (c.workloadOutput?.length) out.push('the workload said', ...indent(c.workloadOutput), '');

  if (c.diagnoses.length) {
    out.push('diagnoses');
    for (const d of c.diagnoses) {
      out.push(`  ${d.id} (${d.blame}${d.fatal ? ', fatal' : ''}): ${d.title}`, `    cause:    ${d.cause}`, `    fix:      ${d.remediation}`, `    evidence: ${d.evidence}`);
      if (c.remedy?.signature === d.id) out.push(`    remedy:   ${cellRemedyLine(c)}`);
    }
    out.push('');
  } else if (c.status === 'FAIL' || c.status === 'ERROR') out.push('diagnoses', '  none matched', '');

  if (c.remedy) {
    const r = c.remedy;
    out.push('remedy re-run', ...indent([`applied:  ${r.applied} (for ${r.signature})`, `result:   ${r.result} (re-run ${r.status})`, `reason:   ${r.reason}`]));
    if (r.durationMs !== undefined) out.push(`  took:     ${fmtNumber('durationMs', r.durationMs)}`);
    if (r.diagnoses?.length) out.push(`  re-run diagnosed: ${r.diagnoses.join(', ')}`);
    if (r.commands?.length) out.push('  commands:', ...indent(r.commands, '    '));
    if (r.artifacts) out.push(`  artifacts: ${r.artifacts}`);
    out.push('');
  }
  if (c.fallback) out.push('fallback on the source', `  ${c.fallback.status}: ${c.fallback.reason}`, '');
  if (c.artifacts) out.push('artifacts (root-only)', `  ${c.artifacts}`, '');
  return `${out.join('\n').trimEnd()}\n`;
}

/** Durations, metrics (flattened), repetitions and the distribution, one per line. */
function figures(c: Cell): string[] {
  const out: string[] = [];
  const d = Object.entries(c.durations).filter((e): e is [string, number] => typeof e[1] === 'number');
  out.push(`durations: ${d.map(([k, v]) => `${k.replace(/Ms$/, '')} ${fmtNumber(k, v)}`).join(', ')}`);
  for (const [k, v] of Object.entries(c.metrics)) {
    if (typeof v === 'number') out.push(`${k}: ${fmtNumber(k, v)}`);
    else if (typeof v === 'string') out.push(`${k}: ${v}`);
    else if (v && typeof v === 'object') out.push(`${k}: ${Object.entries(v as Record<string, unknown>).map(([k2, v2]) => `${k2} ${typeof v2 === 'number' ? fmtNumber(k2, v2) : String(v2)}`).join(', ')}`);
  }
  if (c.repetitions) out.push(`repetitions: ${c.repetitions.successes}/${c.repetitions.attempts} passed (${(c.repetitions.successRate * 100).toFixed(1)}%)`);
  for (const [k, v] of Object.entries(c.distribution ?? {})) out.push(`${k}: n ${v.n}, p50 ${fmtNumber(k, v.p50)}, p95 ${fmtNumber(k, v.p95)}, max ${fmtNumber(k, v.max)}`);
  return out;
}

export async function explainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    console.log(EXPLAIN_HELP);
    return 0;
  }
  const [run, ...cell] = positionals;
  if (!run || !cell.length) throw new UsageError('explain needs a RUN (a run directory or results.json) and a CELL (POOL SUITE CHECK); see criu-compat explain --help');
  const results = await readRun(run);
  let c: Cell;
  try {
    c = findCell(results, cell);
  } catch (e) {
    if (!(e instanceof CellLookupError)) throw e;
    console.error(`criu-compat: ${e.message}${e.candidates.length ? '; close matches:' : ''}`);
    for (const k of e.candidates) console.error(`  ${k}`);
    return 2;
  }
  process.stdout.write(renderExplain(results, c));
  return 0;
}
