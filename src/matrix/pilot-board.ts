import type { PilotVerdict, RunResults } from '../results/schema.ts';
import { describeReason } from './pilot-verdicts.ts';

/**
 * The verdict board every renderer shows: pools (rows) × pilots (columns),
 * each square one PilotVerdict of results.json (absent: the pilot does not
 * run on that pool). Verdicts are read, never recomputed: a report of an
 * old run shows what that run judged.
 */
export interface PilotBoard {
  pilots: string[];
  pools: string[];
  square(pool: string, pilot: string): PilotVerdict | null;
}

export function pilotBoard(results: Pick<RunResults, 'pools' | 'pilots'>): PilotBoard | null {
  const verdicts = results.pilots ?? [];
  if (!verdicts.length) return null;
  const order = new Map(results.pools.map((p, i) => [p.name, i]));
  const index = new Map(verdicts.map((v) => [`${v.pool}\0${v.pilot}`, v]));
  return {
    pilots: [...new Set(verdicts.map((v) => v.pilot))],
    pools: [...new Set(verdicts.map((v) => v.pool))].sort((a, b) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9) || a.localeCompare(b)),
    square: (pool, pilot) => index.get(`${pool}\0${pilot}`) ?? null,
  };
}

/** "CONDITIONAL: only without established TCP: clients must reconnect" — the verdict and, when conditional, its conditions. */
export function squareText(v: PilotVerdict | null): string {
  if (!v) return '–';
  return v.conditions.length ? `${v.verdict}: ${v.conditions.join('; ')}` : v.verdict;
}

/**
 * The criteria a verdict missed or could not measure, as "measured vs limit"
 * lines (the evidence a person reads first); a FAIL status is left out (its
 * success rate says it), a cell that is missing, ERROR or SKIP is not.
 */
export function failingReasons(v: PilotVerdict): string[] {
  return v.reasons.filter((r) => !r.ok && !(r.criterion === 'status' && r.measured === 'FAIL')).map((r) => `${r.cell}: ${describeReason(r)}`);
}

/** Counts per verdict, in board order. */
export function verdictCounts(verdicts: readonly PilotVerdict[]): Record<PilotVerdict['verdict'], number> {
  const n = { GO: 0, CONDITIONAL: 0, 'NO-GO': 0, UNDECIDED: 0 };
  for (const v of verdicts) n[v.verdict]++;
  return n;
}
