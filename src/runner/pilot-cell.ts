import type { Status } from '../results/schema.ts';
import type { CellDraft } from './cell.ts';
import type { PilotAttempt, PilotFigures } from './pilot-stage.ts';
import { percentile } from './repeat.ts';

/** The figures whose spread over the attempts the cell shows (contract: distribution). */
const DISTRIBUTED = ['freezeMs', 'checkpointMs', 'restoreMs', 'clientGapMs'] as const satisfies readonly (keyof PilotFigures)[];

/**
 * One stage's cell from its attempts: ERROR if the harness broke in any,
 * FAIL if any failed, SKIP if a capability was missing, PASS only when every
 * attempt verified. It shows the first bad attempt (else the last), and the
 * numbers over all attempts: repetitions, distribution, metrics.pilot.
 */
export function foldAttempts(attempts: readonly PilotAttempt[], totalMs: number): CellDraft {
  const n = attempts.length;
  if (!n) throw new TypeError('foldAttempts: no attempt');
  const ok = attempts.filter((a) => a.status === 'PASS').length;
  const worst = (s: Status) => attempts.find((a) => a.status === s);
  const bad = worst('ERROR') ?? worst('FAIL') ?? worst('SKIP');
  const shown = bad ?? attempts[n - 1]!;
  const status = shown.status;
  let reason = shown.reason;
  if (n > 1 && status === 'PASS') reason = `${reason} in ${n}/${n} attempts`;
  if (n > 1 && status === 'FAIL') reason = `${n - ok}/${n} attempts failed; first: ${shown.reason}`;
  if (n > 1 && status === 'ERROR') reason = `attempt ${attempts.indexOf(shown) + 1}/${n}: ${shown.reason}`;
  // A figure counts only when every verified attempt has it: a max or sum over the others would pass what was not seen.
  const all = (k: keyof PilotFigures) => (attempts.some((a) => a.status === 'PASS' && a.figures[k] === undefined) ? [] : attempts.map((a) => a.figures[k]).filter((v): v is number => v !== undefined));
  const pilot: Record<string, number> = { attempts: n, successes: ok };
  const spread = (k: keyof PilotFigures, name = k) => {
    const xs = all(k);
    if (!xs.length) return;
    pilot[`${name}P95`] = percentile(xs, 95);
    pilot[`${name}Max`] = Math.max(...xs);
  };
  spread('freezeMs');
  spread('checkpointMs');
  spread('restoreMs');
  spread('transferMs');
  spread('downtimeMs');
  const image = all('imageBytes');
  if (image.length) pilot['imageBytesMax'] = Math.max(...image);
  const gaps = all('clientGapMs');
  if (gaps.length) pilot['clientGapMsMax'] = Math.max(...gaps);
  const errors = all('clientErrors');
  if (errors.length) pilot['clientErrors'] = errors.reduce((a, b) => a + b, 0);
  const probes = all('clientProbes');
  if (probes.length) pilot['clientProbes'] = probes.reduce((a, b) => a + b, 0);
  const held = all('heldConnectionSurvived');
  if (held.length) pilot['heldConnectionSurvived'] = held.every((v) => v === 1) && held.length === n ? 1 : 0;
  const distribution = Object.fromEntries(
    DISTRIBUTED.flatMap((k) => {
      const xs = all(k);
      return xs.length ? [[k, { n: xs.length, p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) }]] : [];
    }),
  );
  return {
    status,
    reason,
    durations: {
      totalMs,
      ...(shown.figures.checkpointMs !== undefined ? { dumpMs: shown.figures.checkpointMs } : {}),
      ...(shown.figures.restoreMs !== undefined ? { restoreMs: shown.figures.restoreMs } : {}),
    },
    metrics: { ...(image.length ? { imageBytes: Math.max(...image) } : {}), pilot },
    diagnoses: shown.diagnoses,
    logExcerpt: shown.logExcerpt,
    commands: shown.commands,
    workloadOutput: shown.output,
    repetitions: { attempts: n, successes: ok, successRate: ok / n },
    distribution,
    ...(shown.fallback ? { fallback: shown.fallback } : {}),
  };
}
