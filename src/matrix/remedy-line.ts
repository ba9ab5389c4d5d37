import type { Cell } from '../results/schema.ts';
import { listNames } from './model.ts';

/** One cell's remedy in a line: "GLIBC_TUNABLES=glibc.pthread.rseq=0 → remedy verified", with the re-run's reason unless verified. */
export function cellRemedyLine(c: Pick<Cell, 'remedy'>): string | undefined {
  const r = c.remedy;
  if (!r) return undefined;
  return `${r.applied} → ${r.result}${r.result === 'remedy verified' ? ` (re-run ${r.status})` : `: ${r.reason}`}`;
}

/**
 * The remedies tried for a group of cells (one cause), in one line: what was
 * applied and what the re-runs concluded, with the cells per result when
 * they disagree ("runtime runc → remedy verified: crun/counter, crun/run;
 * remedy did not help: crun/tcp-established (…)"). undefined: none tried.
 */
export function groupRemedyLine(cells: readonly Pick<Cell, 'check' | 'remedy'>[]): string | undefined {
  const tried = cells.filter((c) => c.remedy);
  if (!tried.length) return undefined;
  const applied = [...new Set(tried.map((c) => c.remedy!.applied))].join(' / ');
  const byResult = new Map<string, Pick<Cell, 'check' | 'remedy'>[]>();
  for (const c of tried) byResult.set(c.remedy!.result, [...(byResult.get(c.remedy!.result) ?? []), c]);
  const untried = cells.length - tried.length;
  if (byResult.size === 1 && !untried) {
    const [result, [first]] = [...byResult][0]!;
    const n = tried.length > 1 ? ` in ${tried.length}/${cells.length} cells` : '';
    return `${applied} → ${result}${n}${result === 'remedy verified' ? '' : `: ${first!.remedy!.reason}`}`;
  }
  const parts = [...byResult].map(([result, cs]) => `${result}: ${listNames(cs.map((c) => c.check))}${result === 'remedy verified' ? '' : ` (${cs[0]!.remedy!.reason})`}`);
  if (untried) parts.push(`not re-run: ${untried} cell${untried === 1 ? '' : 's'}`);
  return `${applied} → ${parts.join('; ')}`;
}
