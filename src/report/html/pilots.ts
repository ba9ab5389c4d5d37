import { causeOf } from '../../matrix/groups.ts';
import { pilotBoard } from '../../matrix/pilot-board.ts';
import { CRITERIA, PILOT_SUITE, criterionLabel, criterionValue } from '../../matrix/pilot-verdicts.ts';
import type { PilotVerdict, RunResults } from '../../results/schema.ts';
import type { CellIds } from './format.ts';

/** A verdict's anchor: names are [a-z0-9._-], so they fit an id as they are. */
const verdictId = (v: Pick<PilotVerdict, 'pool' | 'pilot'>) => `pv-${v.pool}--${v.pilot}`;

/**
 * The pilots' verdict board: pools × pilots, each square coloured by its
 * verdict with its conditions, linking to its evidence: the criteria measured
 * against their limits, the stage cells (status, reason, diagnosis, linking to
 * their own details) and the playbook's response.
 */
export function pilotsSection(results: RunResults, ids: CellIds) {
  const b = pilotBoard(results);
  if (!b) return { pilotBoard: null };
  const cells = new Map(results.cells.filter((c) => c.suite === PILOT_SUITE).map((c) => [`${c.pool}\0${c.check}`, c]));
  const verdicts = b.pools.flatMap((pool) => b.pilots.map((pilot) => b.square(pool, pilot)).filter((v): v is PilotVerdict => v !== null));
  return {
    pilotBoard: {
      pilots: b.pilots,
      rows: b.pools.map((pool) => ({
        pool,
        squares: b.pilots.map((pilot) => {
          const v = b.square(pool, pilot);
          return v ? { verdict: v.verdict, id: verdictId(v), conditions: v.conditions, title: v.why } : { verdict: 'NONE', id: '', conditions: [], title: `${pilot} does not run on ${pool}` };
        }),
      })),
      verdicts: verdicts.map((v) => ({
        id: verdictId(v),
        pool: v.pool,
        pilot: v.pilot,
        verdict: v.verdict,
        why: v.why,
        conditions: v.conditions,
        response: v.response,
        criteria: v.reasons.map((r) => ({
          cell: r.cell,
          criterion: criterionLabel(r),
          measured: criterionValue(r.criterion, r.measured),
          limit: `${CRITERIA[r.criterion]?.dir ?? '='} ${criterionValue(r.criterion, r.limit)}`,
          ok: r.ok ? 'met' : r.measured === null ? 'not measured' : 'missed',
          cls: r.ok ? 'PASS' : r.measured === null ? 'ERROR' : 'FAIL',
        })),
        cells: v.evidence.map((check) => {
          const c = cells.get(`${v.pool}\0${check}`);
          const d = c ? causeOf(c) : undefined;
          return c ? { check, id: ids(c), status: c.status, reason: c.reason, diagnosis: d ? `${d.title} — ${d.remediation}` : '' } : { check, id: '', status: 'NONE', reason: 'not in this results.json', diagnosis: '' };
        }),
      })),
    },
  };
}
