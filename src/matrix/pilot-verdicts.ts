import { holdsConnection, type Pilot, type PilotVerdictName } from '../config/pilot-schema.ts';
import type { Cell, PilotReason, PilotVerdict } from '../results/schema.ts';
import { variantNotNeeded } from './pilot-variants.ts';

/**
 * A pilot's readiness per pool: GO, CONDITIONAL, NO-GO or UNDECIDED, judged
 * here from the pilot suite's cells against the pilot's own criteria (the
 * engine only measures). Pure: pilots and cells in, verdicts out.
 *
 * - GO: the service started and verified without a checkpoint, and every
 *   stage it asked for met every criterion.
 * - CONDITIONAL: checkpoint-restore missed, but a variant met every criterion
 *   (reconnect: no established TCP; pre-copy: pre-dumps first), or a migration
 *   met them to some destinations only.
 * - NO-GO: a stage missed and nothing helped; with the playbook's response to
 *   what was seen.
 * - UNDECIDED (fail closed): a cell needed is missing, ERROR or SKIP, the
 *   service did not even pass without a checkpoint, or a number a criterion
 *   needs was not measured.
 */

export const PILOT_SUITE = 'pilot';

/** Worse last: UNDECIDED counts as worse than anything (what was not measured is not known to work). */
export const VERDICT_RANK: Record<PilotVerdictName, number> = { GO: 0, CONDITIONAL: 1, 'NO-GO': 2, UNDECIDED: 3 };

type Stage = 'leave-running' | 'checkpoint-restore' | 'reconnect' | 'pre-copy' | 'migration';
type Outcome = 'met' | 'missed' | 'undecided' | 'skipped';
/** What the playbook answers to. */
type Kind = 'destination' | 'tcp' | 'artifact' | 'memory' | 'freeze' | 'disruption' | 'slow' | 'broken';

interface Judged {
  check: string;
  outcome: Outcome;
  rows: PilotReason[];
  kinds: Set<Kind>;
  /** What a person reads first about this stage. */
  note: string;
}

/** How a criterion reads, its direction and unit; the renderers use the same table. */
export const CRITERIA: Record<string, { label: string; dir: '≤' | '≥' | '='; unit: string; metric: string }> = {
  status: { label: 'status', dir: '=', unit: '', metric: '' },
  restoreSuccessRate: { label: 'success rate', dir: '≥', unit: '', metric: '' },
  freezeMsP95: { label: 'freeze p95', dir: '≤', unit: 'ms', metric: 'freezeMsP95' },
  checkpointMsMax: { label: 'checkpoint max', dir: '≤', unit: 'ms', metric: 'checkpointMsMax' },
  restoreMsMax: { label: 'restore max', dir: '≤', unit: 'ms', metric: 'restoreMsMax' },
  imageBytesMax: { label: 'image size max', dir: '≤', unit: 'B', metric: 'imageBytesMax' },
  clientGapMsMax: { label: 'client gap max', dir: '≤', unit: 'ms', metric: 'clientGapMsMax' },
  clientErrorsMax: { label: 'client errors', dir: '≤', unit: '', metric: 'clientErrors' },
  heldConnectionSurvived: { label: 'held connection survived', dir: '=', unit: '', metric: 'heldConnectionSurvived' },
};

const KIND_OF: Partial<Record<string, Kind>> = {
  freezeMsP95: 'freeze',
  checkpointMsMax: 'slow',
  restoreMsMax: 'slow',
  imageBytesMax: 'artifact',
  clientGapMsMax: 'disruption',
  clientErrorsMax: 'disruption',
  heldConnectionSurvived: 'tcp',
};

/** The playbook's response per failure kind, in the order they are told. */
const RESPONSE: Record<Kind, string> = {
  memory: 'memory artifact concern: halt non-essential checkpoints, rotate the secrets the service holds, audit access to checkpoint images',
  destination: 'restore fails on the destination: keep the cold-start fallback there and mark the tuple incompatible',
  broken: 'checkpoint/restore fails on this pool: cold-start fallback (restart the service instead of restoring it) and mark the tuple incompatible',
  tcp: 'unstable TCP restore: disable established-TCP restore (--tcp-established) for this class; its clients must reconnect',
  artifact: 'artifact growth: quotas, a TTL and compression for checkpoint images',
  freeze: 'freeze budget missed: no live checkpoints for this class; pre-copy needs dirty-memory tracking (mem_dirty_track) on the pool',
  disruption: 'clients saw more disruption than the budget allows: no checkpoints of this class while it serves',
  slow: 'checkpoint or restore slower than the limit: cold-start fallback when time matters',
};
const KIND_ORDER: Kind[] = ['memory', 'destination', 'broken', 'tcp', 'artifact', 'freeze', 'disruption', 'slow'];

/** Diagnoses that name a failure kind of their own (ids of src/criu signatures, or of the engine's). */
function kindsOfDiagnoses(c: Cell): Kind[] {
  const out: Kind[] = [];
  for (const d of c.diagnoses) {
    if (d.blame === 'note') continue;
    if (/secret|canary|memory-artifact/.test(d.id)) out.push('memory');
    if (/tcp/.test(d.id)) out.push('tcp');
  }
  return out;
}

const num = (c: Cell, key: string): number | undefined => c.metrics.pilot?.[key];

/** The criteria rows of one stage's cell that ran (PASS or FAIL). */
function criteriaRows(p: Pilot, c: Cell, stage: Stage): PilotReason[] {
  const rows: PilotReason[] = [];
  const k = p.criteria;
  // The success rate, over the attempts the pilot asked for; fewer attempts measured prove less.
  const attempts = num(c, 'attempts') ?? c.repetitions?.attempts;
  const successes = num(c, 'successes') ?? c.repetitions?.successes;
  if (attempts === undefined || successes === undefined || attempts < 1) {
    // A FAIL proves one failed attempt: enough to miss a rate of 1, not a lower one.
    const missed = c.status === 'FAIL' && k.restoreSuccessRate >= 1;
    rows.push({ criterion: 'restoreSuccessRate', measured: null, limit: k.restoreSuccessRate, ok: false, cell: c.check, ...(missed ? { measured: `${c.status} (attempts not counted)` } : {}) });
  } else {
    const rate = successes / attempts;
    const best = (successes + Math.max(0, p.attempts - attempts)) / Math.max(p.attempts, attempts);
    const short = attempts < p.attempts && best >= k.restoreSuccessRate;
    rows.push({ criterion: 'restoreSuccessRate', measured: short ? null : rate, limit: k.restoreSuccessRate, ok: !short && rate >= k.restoreSuccessRate && (c.status === 'PASS' || k.restoreSuccessRate < 1), cell: c.check });
  }
  const limits: [string, number | undefined][] = [
    ['freezeMsP95', k.freezeMsP95],
    ['checkpointMsMax', k.checkpointMsMax],
    ['restoreMsMax', stage === 'leave-running' ? undefined : k.restoreMsMax],
    ['imageBytesMax', k.imageBytesMax],
    ['clientGapMsMax', k.clientGapMsMax],
    ['clientErrorsMax', p.client ? k.clientErrorsMax : undefined],
  ];
  for (const [criterion, limit] of limits) {
    if (limit === undefined) continue;
    const measured = num(c, CRITERIA[criterion]!.metric);
    // A percentile says over how many values it was taken (a p95 of 5 attempts is their maximum, not a tail of a distribution).
    const samples = criterion === 'freezeMsP95' ? c.distribution?.['freezeMs']?.n : undefined;
    rows.push({ criterion, measured: measured ?? null, limit, ok: measured !== undefined && measured <= limit, cell: c.check, ...(samples !== undefined ? { samples } : {}) });
  }
  if (holdsConnection(p.client) && stage !== 'reconnect') {
    const survived = num(c, 'heldConnectionSurvived');
    rows.push({ criterion: 'heldConnectionSurvived', measured: survived ?? null, limit: 1, ok: survived === 1, cell: c.check });
  }
  return rows;
}

/** One stage's cell judged: met, missed, undecided (missing, ERROR, unmeasured) or skipped (a capability missing). */
function judgeStage(p: Pilot, c: Cell | undefined, check: string, stage: Stage): Judged {
  if (!c) return { check, outcome: 'undecided', rows: [{ criterion: 'status', measured: null, limit: 'PASS', ok: false, cell: check }], kinds: new Set(), note: `${check} has no cell (not run)` };
  const status: PilotReason = { criterion: 'status', measured: c.status, limit: 'PASS', ok: c.status === 'PASS', cell: check };
  if (c.status === 'ERROR') return { check, outcome: 'undecided', rows: [status], kinds: new Set(), note: `${check} ERROR (the harness or environment broke): ${c.reason}` };
  if (c.status === 'SKIP') return { check, outcome: 'skipped', rows: [status], kinds: new Set(), note: `${check} skipped: ${c.reason}` };
  const rows = [status, ...criteriaRows(p, c, stage)];
  const missed = rows.filter((r) => !r.ok && r.measured !== null && r.criterion !== 'status');
  const unmeasured = rows.filter((r) => r.measured === null);
  const kinds = new Set<Kind>(kindsOfDiagnoses(c));
  for (const r of missed) {
    const k = KIND_OF[r.criterion];
    if (k) kinds.add(k);
  }
  if (c.status === 'FAIL') kinds.add(stage === 'migration' ? 'destination' : 'broken');
  const cause = c.diagnoses.find((d) => d.blame !== 'note');
  if (missed.length) return { check, outcome: 'missed', rows, kinds, note: `${check}: ${missed.map(describeReason).join('; ')}${c.status === 'FAIL' ? ` — ${c.reason}${cause ? ` (${cause.title})` : ''}` : ''}` };
  if (unmeasured.length) return { check, outcome: 'undecided', rows, kinds, note: `${check}: not measured: ${unmeasured.map((r) => CRITERIA[r.criterion]?.label ?? r.criterion).join(', ')}` };
  return { check, outcome: 'met', rows, kinds: new Set(), note: `${check} met every criterion` };
}

/** A criterion's measured value or limit as a person reads it: "812 ms", "48.0 MiB", "95.0%", "not measured". */
export function criterionValue(criterion: string, v: number | string | null): string {
  if (v === null) return 'not measured';
  if (typeof v === 'string') return v;
  if (criterion === 'restoreSuccessRate') return `${(v * 100).toFixed(1)}%`;
  const unit = CRITERIA[criterion]?.unit ?? '';
  if (unit === 'B') return `${(v / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(v * 100) / 100}${unit ? ` ${unit}` : ''}`;
}

/** Nearest-rank p95 over fewer values than this is their maximum. */
const P95_MIN_SAMPLES = 20;

/** A criterion's name as a person reads it; a percentile with its sample count: "freeze p95 (max of 5 samples)". */
export function criterionLabel(r: Pick<PilotReason, 'criterion' | 'samples'>): string {
  const label = CRITERIA[r.criterion]?.label ?? r.criterion;
  if (r.samples === undefined) return label;
  return r.samples < P95_MIN_SAMPLES ? `${label} (max of ${r.samples} sample${r.samples === 1 ? '' : 's'})` : `${label} (${r.samples} samples)`;
}

/** "freeze p95 (max of 5 samples) 812 ms > 500 ms". */
export function describeReason(r: PilotReason): string {
  const c = CRITERIA[r.criterion] ?? { label: r.criterion, dir: '=' };
  const bad = c.dir === '≤' ? '>' : c.dir === '≥' ? '<' : '≠';
  return `${criterionLabel(r)} ${criterionValue(r.criterion, r.measured)} ${r.ok ? c.dir : bad} ${criterionValue(r.criterion, r.limit)}`;
}

interface Part {
  verdict: PilotVerdictName;
  judged: Judged[];
  condition?: string;
  /** CONDITIONAL: what the condition means in practice. */
  response?: string;
  note: string;
}

/** Judges every pilot on each of its pools (only those in `pools`, when given: the pools this run had). */
export function judgePilots(pilots: readonly Pilot[], cells: readonly Cell[], opts: { pools?: readonly string[] } = {}): PilotVerdict[] {
  const index = new Map<string, Cell>();
  for (const c of cells) if (c.suite === PILOT_SUITE && !index.has(`${c.pool}\0${c.check}`)) index.set(`${c.pool}\0${c.check}`, c);
  const out: PilotVerdict[] = [];
  for (const p of pilots)
    for (const pool of p.pools) {
      if (opts.pools && !opts.pools.includes(pool)) continue;
      out.push(judgeOne(p, pool, (check) => index.get(`${pool}\0${check}`)));
    }
  return out;
}

function judgeOne(p: Pilot, pool: string, cell: (check: string) => Cell | undefined): PilotVerdict {
  const at = (stage: string) => `${p.name}/${stage}`;
  const stage = (s: Stage, check: string) => judgeStage(p, cell(check), check, s);
  const start = judgeStage(p, cell(at('start')), at('start'), 'leave-running');
  const startOk = start.rows[0]!.measured === 'PASS';
  const parts: Part[] = [];
  if (!startOk) {
    const note = start.outcome === 'undecided' || start.outcome === 'skipped' ? start.note : `${at('start')} ${String(start.rows[0]!.measured)}: the service did not start and verify without a checkpoint, so nothing about checkpoint/restore can be judged: fix the service, its probe or its seed/verify first`;
    parts.push({ verdict: 'UNDECIDED', judged: [{ ...start, rows: start.rows.slice(0, 1) }], note });
  } else parts.push({ verdict: 'GO', judged: [{ ...start, rows: start.rows.slice(0, 1) }], note: start.note });

  for (const s of p.stages) {
    if (s === 'leave-running') parts.push(simple(stage('leave-running', at('leave-running'))));
    else if (s === 'checkpoint-restore') {
      const primary = cell(at('checkpoint-restore'));
      parts.push(checkpointRestore(p, stage('checkpoint-restore', at('checkpoint-restore')), (v) => stage(v, at(`checkpoint-restore/${v}`)), (v) => variantNotNeeded(`checkpoint-restore/${v}`, p, primary) === undefined));
    }
    else parts.push(migration(p, pool, (dest) => stage('migration', at(`migration → ${dest}`))));
  }
  return combine(p, pool, parts);
}

/** The parts' notes, one per cause: stages that say the same after their check name are told once ("a, b skipped: …"). */
function notesOf(parts: readonly Part[]): string {
  const byTail = new Map<string, string[]>();
  for (const x of parts) {
    const check = x.judged.length === 1 ? x.judged[0]!.check : undefined;
    const [head, tail] = check && x.note.startsWith(`${check} `) ? [check, x.note.slice(check.length)] : ['', x.note];
    byTail.set(tail, [...(byTail.get(tail) ?? []), head].filter(Boolean));
  }
  return [...byTail].map(([tail, heads]) => `${heads.join(', ')}${tail}`.trim()).join('; ');
}

function simple(j: Judged): Part {
  return { verdict: j.outcome === 'met' ? 'GO' : j.outcome === 'missed' ? 'NO-GO' : 'UNDECIDED', judged: [j], note: j.note };
}

/** How conditions read that the gate compares part by part (conditionsStricter). */
const ONE_OF = 'one of: ';
const ONE_OF_SEP = ' | ';
const BETWEEN = 'only between these pools: ';
const BETWEEN_SEP = ', ';

/**
 * What makes a CONDITIONAL's conditions stricter than before (empty: not
 * stricter): a migration pair no longer met, or a condition no condition of
 * before implied ("one of: A | B" is implied by "A"; by "one of: A | B | C"
 * it is not, one way out fewer).
 */
export function conditionsStricter(before: readonly string[], after: readonly string[]): string[] {
  const parse = (cs: readonly string[]) => {
    let pairs: Set<string> | undefined;
    const rest: { text: string; ways: Set<string> }[] = [];
    for (const c of cs) {
      if (c.startsWith(BETWEEN)) pairs = new Set(c.slice(BETWEEN.length).split(BETWEEN_SEP));
      else rest.push({ text: c, ways: new Set(c.startsWith(ONE_OF) ? c.slice(ONE_OF.length).split(ONE_OF_SEP) : [c]) });
    }
    return { pairs, rest };
  };
  const b = parse(before);
  const a = parse(after);
  const out: string[] = [];
  if (a.pairs) {
    const lost = b.pairs ? [...b.pairs].filter((x) => !a.pairs!.has(x)) : [];
    if (lost.length) out.push(`no longer ${lost.join(', ')}`);
    else if (!b.pairs) out.push(`${BETWEEN}${[...a.pairs].join(BETWEEN_SEP)} (before: every destination)`);
  }
  for (const c of a.rest) if (!b.rest.some((x) => [...x.ways].every((w) => c.ways.has(w)))) out.push(c.text);
  return out;
}

const CONDITION: Record<'reconnect' | 'pre-copy', { condition: string; response: string }> = {
  reconnect: { condition: 'only without established TCP: clients must reconnect', response: 'disable established-TCP restore (--tcp-established) for this class; its clients reconnect after a restore' },
  'pre-copy': { condition: 'only with pre-copy to stay under the freeze budget', response: 'checkpoint this class only with pre-dumps first (pre-copy)' },
};

function checkpointRestore(p: Pilot, primary: Judged, variant: (v: 'reconnect' | 'pre-copy') => Judged, called: (v: 'reconnect' | 'pre-copy') => boolean): Part {
  if (primary.outcome === 'met') return { verdict: 'GO', judged: [primary], note: primary.note };
  if (primary.outcome !== 'missed') return { verdict: 'UNDECIDED', judged: [primary], note: primary.note };
  // Variants run only where they could help (the suite's rule, read again here): one the rule did not call for
  // and without a cell could not help; one it called for without a cell was not run (interrupted): it might have.
  const all = (['reconnect', 'pre-copy'] as const).map((v) => ({ v, j: variant(v) }));
  const absent = all.find((x) => x.j.rows[0]?.measured === null && called(x.v));
  if (absent) return { verdict: 'UNDECIDED', judged: [primary, absent.j], note: `${primary.note}; ${absent.j.note} (the variant might have helped)` };
  const tried = all.filter((x) => !x.j.rows[0] || x.j.rows[0].measured !== null);
  const met = tried.filter((x) => x.j.outcome === 'met');
  const judged = [primary, ...tried.map((x) => x.j)];
  if (met.length) {
    const cs = met.map((x) => CONDITION[x.v]);
    return {
      verdict: 'CONDITIONAL',
      judged,
      condition: cs.length === 1 ? cs[0]!.condition : `${ONE_OF}${cs.map((c) => c.condition).join(ONE_OF_SEP)}`,
      response: cs.map((c) => c.response).join('; or '),
      note: `${primary.note}; ${met.map((x) => x.j.note).join('; ')}`,
    };
  }
  const undecided = tried.find((x) => x.j.outcome === 'undecided');
  if (undecided) return { verdict: 'UNDECIDED', judged, note: `${primary.note}; ${undecided.j.note} (it might have helped)` };
  const kinds = new Set([...primary.kinds, ...tried.flatMap((x) => [...x.j.kinds])]);
  return { verdict: 'NO-GO', judged: judged.map((j) => ({ ...j, kinds })), note: tried.length ? `${primary.note}; no variant helped (${tried.map((x) => x.j.note).join('; ')})` : primary.note };
}

function migration(p: Pilot, pool: string, dest: (d: string) => Judged): Part {
  const dests = p.migrateTo.filter((d) => d !== pool);
  if (!dests.length) return { verdict: 'UNDECIDED', judged: [], note: `the migration stage needs migrateTo: pools other than ${pool} to migrate to` };
  const judged = dests.map((d) => ({ d, j: dest(d) }));
  const undecided = judged.find((x) => x.j.outcome === 'undecided' || x.j.outcome === 'skipped');
  if (undecided) return { verdict: 'UNDECIDED', judged: judged.map((x) => x.j), note: undecided.j.note };
  const met = judged.filter((x) => x.j.outcome === 'met');
  if (met.length === judged.length) return { verdict: 'GO', judged: judged.map((x) => x.j), note: `migration met every criterion to ${dests.join(', ')}` };
  // The service moved and verified everywhere, and only the held connection stayed behind: it works for clients that reconnect.
  if (judged.every((x) => x.j.outcome === 'met' || onlyHeldLost(x.j)))
    return { verdict: 'CONDITIONAL', judged: judged.map((x) => x.j), condition: CONDITION.reconnect.condition, response: `${RESPONSE.tcp} (a held connection does not follow the service to ${judged.filter((x) => x.j.outcome !== 'met').map((x) => x.d).join(', ')})`, note: judged.filter((x) => x.j.outcome !== 'met').map((x) => x.j.note).join('; ') };
  const missed = judged.filter((x) => x.j.outcome !== 'met');
  if (!met.length) return { verdict: 'NO-GO', judged: judged.map((x) => x.j), note: missed.map((x) => x.j.note).join('; ') };
  return {
    verdict: 'CONDITIONAL',
    judged: judged.map((x) => x.j),
    condition: `${BETWEEN}${met.map((x) => `${pool} → ${x.d}`).join(BETWEEN_SEP)}`,
    response: `${RESPONSE.destination} (${missed.map((x) => `${pool} → ${x.d}`).join(', ')})`,
    note: missed.map((x) => x.j.note).join('; '),
  };
}

/** A stage that passed and missed nothing but its held connection. */
function onlyHeldLost(j: Judged): boolean {
  const missed = j.rows.filter((r) => !r.ok);
  return j.outcome === 'missed' && j.rows[0]?.measured === 'PASS' && missed.length > 0 && missed.every((r) => r.criterion === 'heldConnectionSurvived');
}

function combine(p: Pilot, pool: string, parts: Part[]): PilotVerdict {
  const verdict = parts.reduce<PilotVerdictName>((w, x) => (VERDICT_RANK[x.verdict] > VERDICT_RANK[w] ? x.verdict : w), 'GO');
  const judged = parts.flatMap((x) => x.judged);
  const reasons = judged.flatMap((j) => j.rows);
  const evidence = [...new Set(judged.filter((j) => j.rows[0]?.measured !== null).map((j) => j.check))];
  const worst = parts.filter((x) => x.verdict === verdict);
  const conditions = verdict === 'CONDITIONAL' ? worst.map((x) => x.condition!).filter(Boolean) : [];
  let response: string | null = null;
  if (verdict === 'NO-GO') {
    const kinds = new Set(worst.flatMap((x) => x.judged.filter((j) => j.outcome !== 'met').flatMap((j) => [...j.kinds])));
    if (kinds.has('tcp')) kinds.delete('broken'); // the TCP restore is what broke
    response = KIND_ORDER.filter((k) => kinds.has(k)).map((k) => RESPONSE[k]).join('; ') || RESPONSE.broken;
  } else if (verdict === 'CONDITIONAL') response = worst.map((x) => x.response!).filter(Boolean).join('; ');
  const why =
    verdict === 'GO'
      ? `every stage (${p.stages.join(', ')}) met every criterion over ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}`
      : verdict === 'CONDITIONAL'
        ? `${conditions.join('; ')} — ${worst.map((x) => x.note).join('; ')}`
        : notesOf(worst);
  return { pilot: p.name, pool, verdict, conditions, why, reasons, response, evidence };
}
