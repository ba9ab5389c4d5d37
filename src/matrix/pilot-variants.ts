import { holdsConnection, type Pilot } from '../config/pilot-schema.ts';
import type { Status } from '../results/schema.ts';

/** What the rule reads of the primary checkpoint-restore cell (a cell of results.json or the suite's draft). */
export interface PrimaryCell {
  status: Status;
  metrics?: { pilot?: Record<string, number> | undefined } | undefined;
}

/**
 * Whether a variant of checkpoint-restore is worth running, from the primary
 * cell: reconnect when the primary failed or its client broke and the pilot
 * holds a connection or restores established TCP (without them the client
 * reconnects); pre-copy when the freeze p95 missed the budget. undefined:
 * run it; a string: why not. The suite runs a variant on this rule, and the
 * verdict reads it again: a variant it says to run that has no cell was not
 * run, which is not "it could not help".
 */
export function variantNotNeeded(stage: string, pilot: Pilot, primary: PrimaryCell | undefined): string | undefined {
  if (!primary) return 'checkpoint-restore did not run';
  const m = primary.metrics?.pilot ?? {};
  if (stage === 'checkpoint-restore/reconnect') {
    const established = holdsConnection(pilot.client) || pilot.criu.options.some((o) => o.startsWith('--tcp-established'));
    if (!established) return 'the pilot holds no connection and does not restore established TCP: checkpoint-restore already is the reconnecting case';
    const broke = primary.status === 'FAIL' || (m['clientErrors'] ?? 0) > pilot.criteria.clientErrorsMax || m['heldConnectionSurvived'] === 0;
    return broke ? undefined : 'checkpoint-restore passed with its held connection';
  }
  if (stage === 'checkpoint-restore/pre-copy') {
    const budget = pilot.criteria.freezeMsP95;
    if (budget === undefined) return 'no freeze budget (criteria.freezeMsP95)';
    if (primary.status !== 'PASS') return 'checkpoint-restore did not pass: pre-copy shortens the freeze, it does not mend a failure';
    const p95 = m['freezeMsP95'];
    if (p95 === undefined) return 'the freeze was not measured';
    return p95 > budget ? undefined : `freeze p95 ${p95.toFixed(1)} ms is within the budget (${budget} ms)`;
  }
  return undefined;
}
