import semver from 'semver';
import type { Cell, RunResults, Status } from '../results/schema.ts';
import { causeOf } from '../matrix/groups.ts';
import { featureCell } from '../matrix/model.ts';
import { globMatch, looseVersion, type Policy } from './policy.ts';
import { cellKey } from './run-defects.ts';
import { pilotVerdictFindings } from './pilot-gate.ts';

export type FindingKind =
  | 'status'
  | 'success-rate'
  | 'capability'
  | 'rule'
  | 'metric'
  | 'missing-pool'
  | 'missing-cell'
  | 'interrupted-run'
  | 'empty-run'
  | 'duplicate-cell'
  | 'expired-known-issue'
  | 'expired-retirement'
  | 'pilot-verdict'
  | 'missing-pilot-verdict';

export interface Finding {
  kind: FindingKind;
  /** The pool ("run" for what concerns the whole run). */
  pool: string;
  /** SUITE/CHECK, or the capability, or the run id, or the policy entry's glob. */
  what: string;
  before: string;
  after: string;
  /** Why this matters and what to do (the current cell's diagnosis when there is one). */
  detail: string;
  /** Other reasons the same cell is reported for: a cell is counted once (e.g. a status regression that also breaks a rule). */
  also?: string[];
}

export interface CellRef {
  pool: string;
  what: string;
  status: Status;
}

export interface GateResult {
  regressions: Finding[];
  unstable: Finding[];
  /** Failures a known issue covers (until it expires). */
  expected: Finding[];
  /** Pools and cells of the baseline absent now that the policy retires (until the entry expires). */
  retired: Finding[];
  improvements: Finding[];
  newCells: CellRef[];
  /** Cells of the baseline not run now, in a pool that did run, that did not PASS then (a missing PASS cell is a regression). */
  missingCells: CellRef[];
  passed: boolean;
}

/** A cell's finding before the known issues and the other findings of the same cell are weighed. */
interface Pending {
  f: Finding;
  unstable: boolean;
  /** How this reason reads when another reason of the same cell leads. */
  label: string;
}

const broken = (s: Status) => s === 'FAIL' || s === 'ERROR';
const WORSE: Record<Status, number> = { PASS: 0, SKIP: 1, FAIL: 2, ERROR: 3 };
const LEAD: Partial<Record<FindingKind, number>> = { status: 0, 'success-rate': 1, capability: 2, rule: 3, metric: 4, 'pilot-verdict': 5 };
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function metricValue(c: Cell, path: string, group: string, name: string | undefined): number | undefined {
  const d = c.distribution?.[path]?.p50;
  if (d !== undefined) return d;
  if (!name) return (c.metrics as Record<string, unknown>)[group] as number | undefined;
  if (group === 'durations') return (c.durations as Record<string, number | undefined>)[name];
  return (c.metrics as Record<string, Record<string, number> | undefined>)[group]?.[name];
}

function explain(c: Cell): string {
  const d = causeOf(c);
  return d ? `${c.reason} — cause: ${d.cause} — fix: ${d.remediation}` : c.reason;
}

/** The findings of one cell as one: the leading reason, the others named in `also`. */
function merge(ps: Pending[]): Finding {
  const sorted = [...ps].sort((a, b) => (LEAD[a.f.kind] ?? 9) - (LEAD[b.f.kind] ?? 9));
  const lead = sorted[0]!.f;
  return sorted.length === 1 ? lead : { ...lead, also: sorted.slice(1).map((p) => p.label) };
}

/**
 * Compares a run with its baseline under a policy, in time linear in the
 * cells. history: earlier runs (oldest first) used to tell flaky from
 * broken: a cell that flipped between PASS and FAIL/ERROR in them is
 * unstable, not regressed. What cannot be judged fails: an interrupted or
 * empty run, duplicate cells, a pool or a PASS cell of the baseline absent now
 * (unless the policy retires it).
 */
export function runGate(baseline: RunResults, current: RunResults, policy: Policy, opts: { history?: RunResults[]; today?: string } = {}): GateResult {
  const today = opts.today ?? new Date().toISOString().slice(0, 10);
  const min = policy.minSuccessRate;
  const r: GateResult = { regressions: [], unstable: [], expected: [], retired: [], improvements: [], newCells: [], missingCells: [], passed: true };

  // The run as a whole.
  if (current.interrupted)
    r.regressions.push({ kind: 'interrupted-run', pool: 'run', what: current.runId, before: 'complete', after: 'interrupted', detail: 'the run was stopped before it finished: what it lacks is unknown, not passed; run the matrix again' });
  if (current.pools.length === 0 || current.cells.length === 0)
    r.regressions.push({ kind: 'empty-run', pool: 'run', what: current.runId, before: `${baseline.pools.length} pools, ${baseline.cells.length} cells`, after: `${current.pools.length} pools, ${current.cells.length} cells`, detail: 'a run without pools or cells proves nothing: check the config and the step that produced it' });
  // Each run's cells by key, built once (a cell twice in the current run: the worse one is judged).
  const base = new Map<string, Cell>();
  for (const c of baseline.cells) {
    const k = cellKey(c);
    if (!base.has(k)) base.set(k, c);
  }
  const cur = new Map<string, Cell>();
  const dups = new Map<string, { cell: Cell; n: number }>();
  for (const c of current.cells) {
    const k = cellKey(c);
    const o = cur.get(k);
    if (o) dups.set(k, { cell: c, n: (dups.get(k)?.n ?? 1) + 1 });
    if (!o || WORSE[c.status] > WORSE[o.status]) cur.set(k, c);
  }
  for (const { cell: c, n } of dups.values())
    r.regressions.push({ kind: 'duplicate-cell', pool: c.pool, what: `${c.suite}/${c.check}`, before: 'once', after: `${n} times`, detail: 'results.json holds this cell more than once (a merge or an edit gone wrong): the gate judged the worst of them, but the run cannot be trusted' });

  // Retirements: a pool (or some cells) may leave the matrix until the entry expires.
  const usedRetirements = new Set<Policy['retired'][number]>();
  const retirement = (pool: string, what?: string) => {
    let active: Policy['retired'][number] | undefined;
    for (const x of policy.retired)
      if (globMatch(x.pool, pool) && (x.check === undefined || (what !== undefined && globMatch(x.check, what)))) {
        usedRetirements.add(x);
        if (x.expires >= today) active ??= x;
      }
    return active;
  };

  // Pools of the baseline absent now.
  const curPools = new Set([...current.pools.map((p) => p.name), ...[...cur.values()].map((c) => c.pool)]);
  const basePools = new Map<string, { n: number; pass: number }>(baseline.pools.map((p) => [p.name, { n: 0, pass: 0 }]));
  for (const c of base.values()) {
    const p = basePools.get(c.pool) ?? { n: 0, pass: 0 };
    p.n++;
    if (c.status === 'PASS') p.pass++;
    basePools.set(c.pool, p);
  }
  for (const [pool, n] of basePools) {
    if (curPools.has(pool)) continue;
    const f: Finding = { kind: 'missing-pool', pool, what: 'all cells', before: `in the baseline (${n.n} cells, ${n.pass} PASS)`, after: 'not in this run', detail: current.shard
        ? `this run is shard ${current.shard.index}/${current.shard.count}: gate the merged run (criu-compat merge), not one shard`
        : 'a pool leaves the matrix only when the policy retires it (retired: [{pool, reason, expires}]); else the pipeline lost it' };
    const ret = retirement(pool);
    if (ret) r.retired.push({ ...f, detail: `retired until ${ret.expires}: ${ret.reason}` });
    else r.regressions.push(f);
  }

  const pending = new Map<string, Pending[]>();
  const add = (k: string, p: Pending) => {
    const l = pending.get(k);
    if (l) l.push(p);
    else pending.set(k, [p]);
  };

  // Earlier runs, each indexed once: a cell's history is then a few lookups.
  const history = (opts.history ?? []).map((run) => {
    const m = new Map<string, Status>();
    for (const c of run.cells) {
      const k = cellKey(c);
      if (!m.has(k)) m.set(k, c.status);
    }
    return { runId: run.runId, m };
  });
  const flips = (k: string, b: Cell, c: Cell): string | null => {
    const seq = [...history.map((h) => ({ run: h.runId, s: h.m.get(k) })), { run: `${baseline.runId} (baseline)`, s: b.status }, { run: `${current.runId} (now)`, s: c.status }].filter(
      (x): x is { run: string; s: Status } => x.s === 'PASS' || x.s === 'FAIL' || x.s === 'ERROR',
    );
    let n = 0;
    for (let i = 1; i < seq.length; i++) if ((seq[i]!.s === 'PASS') !== (seq[i - 1]!.s === 'PASS')) n++;
    return n >= 2 ? `flips across runs, oldest first: ${seq.map((x) => `${x.s} in ${x.run}`).join(', ')}` : null;
  };

  const metrics = policy.metrics.map((m) => {
    const [group, name] = m.metric.split('.') as [string, string | undefined];
    return { ...m, group, name };
  });
  for (const [k, c] of cur) {
    const b = base.get(k);
    const what = `${c.suite}/${c.check}`;
    const reps = c.repetitions;
    const disagree = !!reps && reps.successes > 0 && reps.successes < reps.attempts;
    if (!b) {
      r.newCells.push({ pool: c.pool, what, status: c.status });
      if (disagree) add(k, { f: { kind: 'success-rate', pool: c.pool, what, before: 'new', after: `${reps.successes}/${reps.attempts} passed`, detail: `repetitions disagree (success rate ${pct(reps.successRate)}; a new cell is reported, not failed)` }, unstable: true, label: `repetitions disagree (${reps.successes}/${reps.attempts})` });
      continue;
    }
    if (broken(b.status) && c.status === 'PASS') r.improvements.push({ kind: 'status', pool: c.pool, what, before: b.status, after: 'PASS', detail: c.reason });
    if (disagree) {
      // Below the minimum success rate where the baseline was at or above it: a regression. Else unstable.
      const baseRate = b.repetitions?.successRate ?? (b.status === 'PASS' ? 1 : broken(b.status) ? 0 : null);
      const before = b.repetitions ? `${b.repetitions.successes}/${b.repetitions.attempts} passed` : `${b.status} (one attempt)`;
      const after = `${reps.successes}/${reps.attempts} passed`;
      const fell = reps.successRate < min && baseRate !== null && baseRate >= min;
      const why = fell
        ? `success rate ${pct(reps.successRate)} is below the policy's minimum ${pct(min)} (minSuccessRate)`
        : `repetitions disagree (success rate ${pct(reps.successRate)}; ${reps.successRate < min ? `below the minimum ${pct(min)} in the baseline already` : `at or above the minimum ${pct(min)}`})`;
      add(k, { f: { kind: 'success-rate', pool: c.pool, what, before, after, detail: broken(c.status) ? `${why} — ${explain(c)}` : why }, unstable: !fell, label: `success rate ${after}` });
    } else if (b.status === 'PASS' && broken(c.status)) {
      const flipped = history.length ? flips(k, b, c) : null;
      add(k, { f: { kind: 'status', pool: c.pool, what, before: 'PASS', after: c.status, detail: flipped ? `${flipped} — ${explain(c)}` : explain(c) }, unstable: flipped !== null, label: `PASS → ${c.status}` });
    }
    if (b.status === 'PASS' && c.status === 'PASS')
      for (const m of metrics) {
        const before = metricValue(b, m.metric, m.group, m.name);
        const after = metricValue(c, m.metric, m.group, m.name);
        if (before === undefined || after === undefined || before < m.minBaseline) continue;
        if (after > before * (1 + m.maxIncrease)) {
          const growth = `+${(((after - before) / before) * 100).toFixed(0)}% (allowed +${(m.maxIncrease * 100).toFixed(0)}%)`;
          add(k, { f: { kind: 'metric', pool: c.pool, what: `${what} ${m.metric}`, before: String(Math.round(before)), after: String(Math.round(after)), detail: growth }, unstable: false, label: `${m.metric} ${growth}` });
        }
      }
  }

  // Cells of the baseline not run now, in pools that did run.
  for (const [k, b] of base) {
    if (cur.has(k) || !curPools.has(b.pool)) continue;
    const what = `${b.suite}/${b.check}`;
    const ret = retirement(b.pool, what);
    if (ret) r.retired.push({ kind: 'missing-cell', pool: b.pool, what, before: b.status, after: 'not run', detail: `retired until ${ret.expires}: ${ret.reason}` });
    else if (b.status === 'PASS')
      r.regressions.push({ kind: 'missing-cell', pool: b.pool, what, before: 'PASS', after: 'not run', detail: 'passed in the baseline and did not run now: a check leaves the matrix only when the policy retires it (retired: [{pool, check, reason, expires}])' });
    else r.missingCells.push({ pool: b.pool, what, status: b.status });
  }

  // Capabilities present in the baseline and lost now.
  const basePoolResults = new Map(baseline.pools.map((p) => [p.name, p]));
  for (const p of current.pools) {
    const bp = basePoolResults.get(p.name);
    if (!bp) continue;
    for (const [cap, had] of Object.entries(bp.capabilities))
      if (had && p.capabilities[cap] === false) {
        const probe = featureCell(cap);
        const what = `${probe.suite}/${probe.check}`;
        add(`${p.name}\0${what}`, { f: { kind: 'capability', pool: p.name, what, before: 'present', after: 'missing', detail: `criu check --feature ${cap} no longer succeeds` }, unstable: false, label: `capability ${cap} lost` });
      }
  }

  // Version rules on the current run.
  const byPool = new Map<string, Cell[]>();
  for (const c of cur.values()) {
    const l = byPool.get(c.pool);
    if (l) l.push(c);
    else byPool.set(c.pool, [c]);
  }
  for (const rule of policy.rules) {
    const name = rule.name ?? `criu ${rule.when.criu ?? '*'} on kernel ${rule.when.kernel ?? '*'}`;
    for (const p of current.pools) {
      const criu = looseVersion(p.inventory?.criuVersion);
      const kernel = looseVersion(p.inventory?.kernelRelease);
      if (rule.when.pool && !globMatch(rule.when.pool, p.name)) continue;
      if (rule.when.criu && !(criu && semver.satisfies(criu, rule.when.criu))) continue;
      if (rule.when.kernel && !(kernel && semver.satisfies(kernel, rule.when.kernel))) continue;
      for (const c of byPool.get(p.name) ?? []) {
        const what = `${c.suite}/${c.check}`;
        if (!globMatch(rule.check, what) || c.status === 'PASS' || (rule.must === 'PASS_OR_SKIP' && c.status === 'SKIP')) continue;
        add(cellKey(c), { f: { kind: 'rule', pool: p.name, what, before: `must ${rule.must}`, after: c.status, detail: `${name}: ${explain(c)}` }, unstable: false, label: `rule "${name}": must ${rule.must}` });
      }
    }
  }

  // Pilot verdicts worse than the baseline's (known issues may cover them); one the baseline had, gone, unless retired.
  const pv = pilotVerdictFindings(baseline, current, curPools, retirement);
  for (const f of pv.worse) add(`${f.pool}\0${f.what}`, { f, unstable: false, label: `verdict ${f.before} → ${f.after}` });
  r.regressions.push(...pv.missing);
  r.retired.push(...pv.retired);
  r.improvements.push(...pv.better);

  // Each cell once: what a known issue covers is expected; the rest is a regression unless all of it is unstable.
  const activeKnown = policy.knownIssues.filter((k) => k.expires >= today);
  for (const ps of pending.values()) {
    const expected: Pending[] = [];
    const rest: Pending[] = [];
    for (const p of ps) {
      const k = activeKnown.find((x) => globMatch(x.pool, p.f.pool) && globMatch(x.check, p.f.what));
      if (k) expected.push({ ...p, f: { ...p.f, detail: `${p.f.detail} (known issue until ${k.expires}: ${k.reason})` } });
      else rest.push(p);
    }
    if (expected.length) r.expected.push(merge(expected));
    if (rest.some((p) => !p.unstable)) r.regressions.push(merge(rest));
    else if (rest.length) r.unstable.push(merge(rest));
  }

  // Expired policy entries fail the gate; one that matches nothing now is to be removed.
  for (const k of policy.knownIssues) {
    if (k.expires >= today) continue;
    const matches = (pool: string, what: string) => globMatch(k.pool, pool) && globMatch(k.check, what);
    const live = [...pending.values()].some((ps) => ps.some((p) => matches(p.f.pool, p.f.what))) || current.cells.some((c) => broken(c.status) && matches(c.pool, `${c.suite}/${c.check}`));
    r.regressions.push({
      kind: 'expired-known-issue',
      pool: k.pool,
      what: k.check,
      before: `expected until ${k.expires}`,
      after: 'expired',
      detail: live ? `known issue "${k.reason}" expired on ${k.expires}: fix it, or renew the entry with a new date` : `known issue "${k.reason}" expired on ${k.expires} and matches no failing cell now: remove this entry`,
    });
  }
  for (const x of policy.retired) {
    if (x.expires >= today) continue;
    const live = usedRetirements.has(x);
    r.regressions.push({
      kind: 'expired-retirement',
      pool: x.pool,
      what: x.check ?? 'all cells',
      before: `retired until ${x.expires}`,
      after: 'expired',
      detail: live
        ? `retirement "${x.reason}" expired on ${x.expires} and the baseline still has what it retires: accept a new baseline without it (criu-compat baseline accept), or renew the entry`
        : `retirement "${x.reason}" expired on ${x.expires} and matches nothing missing now: remove this entry`,
    });
  }

  r.passed = r.regressions.length === 0 && (policy.unstable === 'report' || r.unstable.length === 0);
  return r;
}
