import { VERDICT_RANK, conditionsStricter } from '../matrix/pilot-verdicts.ts';
import type { PilotVerdict, RunResults } from '../results/schema.ts';
import type { Finding } from './gate.ts';

/** What a pilot's verdict on a pool is called in findings (and matched by known issues and retirements): "pilot/redis". */
export const pilotWhat = (v: Pick<PilotVerdict, 'pilot'>): string => `pilot/${v.pilot}`;

const label = (v: PilotVerdict) => (v.conditions.length ? `${v.verdict} (${v.conditions.join('; ')})` : v.verdict);

/**
 * Pilot verdicts against the baseline's: worse (GO > CONDITIONAL > NO-GO,
 * UNDECIDED worse than all) is a regression, as is a verdict the baseline had
 * and this run lacks on a pool that ran (a pool absent altogether is the
 * missing-pool finding already); better is an improvement. The same verdict
 * with stricter conditions (a migration pair lost, a condition added, one way
 * out fewer) is worse; with the same or looser ones, neither.
 */
export function pilotVerdictFindings(
  baseline: Pick<RunResults, 'pilots'>,
  current: Pick<RunResults, 'pilots'>,
  poolsNow: ReadonlySet<string>,
  retirement: (pool: string, what: string) => { expires: string; reason: string } | undefined,
): Record<'worse' | 'missing' | 'retired' | 'better', Finding[]> {
  const now = new Map((current.pilots ?? []).map((v) => [`${v.pool}\0${v.pilot}`, v]));
  const out = { worse: [] as Finding[], missing: [] as Finding[], retired: [] as Finding[], better: [] as Finding[] };
  for (const b of baseline.pilots ?? []) {
    if (!poolsNow.has(b.pool)) continue;
    const c = now.get(`${b.pool}\0${b.pilot}`);
    if (!c) {
      const f: Finding = { kind: 'missing-pilot-verdict', pool: b.pool, what: pilotWhat(b), before: label(b), after: 'no verdict', detail: 'the baseline judged this pilot on this pool and this run did not (the pilot or its suite left the run): a verdict leaves only when the policy retires it (retired: [{pool, check: "pilot/NAME", reason, expires}])' };
      const ret = retirement(b.pool, f.what);
      if (ret) out.retired.push({ ...f, detail: `retired until ${ret.expires}: ${ret.reason}` });
      else out.missing.push(f);
      continue;
    }
    const d = VERDICT_RANK[c.verdict] - VERDICT_RANK[b.verdict];
    const f: Finding = { kind: 'pilot-verdict', pool: b.pool, what: pilotWhat(b), before: label(b), after: label(c), detail: `${c.why}${c.response ? ` — response: ${c.response}` : ''}` };
    // A CONDITIONAL still, under stricter conditions: what the rollout relied on no longer holds.
    const stricter = d === 0 && c.verdict === 'CONDITIONAL' ? conditionsStricter(b.conditions, c.conditions) : [];
    if (d > 0) out.worse.push(f);
    else if (stricter.length) out.worse.push({ ...f, detail: `stricter conditions: ${stricter.join('; ')} — ${f.detail}` });
    else if (d < 0) out.better.push(f);
  }
  return out;
}
