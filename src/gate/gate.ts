import semver from 'semver';
import { listNames } from '../matrix/text.ts';
import type { Cell, RunResults, Status } from '../results/schema.ts';
import { globMatch, looseVersion, type Policy } from './policy.ts';

export interface Finding {
  kind: 'status' | 'capability' | 'metric' | 'success-rate' | 'rule' | 'expired-known-issue';
  pool: string;
  /** SUITE/CHECK, or the capability or rule name. */
  what: string;
  before: string;
  after: string;
  /** Why this matters and what to do (the current cell's diagnosis when there is one). */
  detail: string;
}

export interface GateResult {
  regressions: Finding[];
  unstable: Finding[];
  /** Failures a known issue covers (until it expires). */
  expected: Finding[];
  improvements: Finding[];
  newCells: string[];
  missingCells: string[];
  passed: boolean;
}

const key = (c: Pick<Cell, 'pool' | 'suite' | 'check'>) => `${c.pool}\0${c.suite}/${c.check}`;
const broken = (s: Status) => s === 'FAIL' || s === 'ERROR';

function metricValue(c: Cell, path: string): number | undefined {
  const d = c.distribution?.[path]?.p50;
  if (d !== undefined) return d;
  const [group, name] = path.split('.') as [string, string | undefined];
  if (!name) return (c.metrics as Record<string, unknown>)[group] as number | undefined;
  if (group === 'durations') return (c.durations as Record<string, number | undefined>)[name];
  return (c.metrics as Record<string, Record<string, number> | undefined>)[group]?.[name];
}

function explain(c: Cell): string {
  const d = c.diagnoses.find((x) => x.blame !== 'note');
  return d ? `${c.reason} — cause: ${d.cause} — fix: ${d.remediation}` : c.reason;
}

/**
 * Compares a run with its baseline under a policy. history: earlier runs
 * (oldest first) used to tell flaky from broken: a cell that flipped between
 * PASS and FAIL/ERROR in them is unstable, not regressed.
 */
export function runGate(baseline: RunResults, current: RunResults, policy: Policy, opts: { history?: RunResults[]; today?: string } = {}): GateResult {
  const today = opts.today ?? new Date().toISOString().slice(0, 10);
  const base = new Map(baseline.cells.map((c) => [key(c), c]));
  const cur = new Map(current.cells.map((c) => [key(c), c]));
  const r: GateResult = { regressions: [], unstable: [], expected: [], improvements: [], newCells: [], missingCells: [], passed: true };

  const known = (pool: string, what: string) => policy.knownIssues.find((k) => globMatch(k.pool, pool) && globMatch(k.check, what));
  for (const k of policy.knownIssues)
    if (k.expires < today)
      r.regressions.push({ kind: 'expired-known-issue', pool: k.pool, what: k.check, before: `expected until ${k.expires}`, after: 'expired', detail: `known issue "${k.reason}" expired on ${k.expires}: fix it, or renew the entry with a new date` });

  const flips = (k: string): number => {
    const seq = [...(opts.history ?? []), baseline, current]
      .map((run) => run.cells.find((c) => key(c) === k)?.status)
      .filter((s): s is Status => s === 'PASS' || s === 'FAIL' || s === 'ERROR');
    let n = 0;
    for (let i = 1; i < seq.length; i++) if ((seq[i] === 'PASS') !== (seq[i - 1] === 'PASS')) n++;
    return n;
  };
  const place = (f: Finding, unstable: boolean) => {
    const k = known(f.pool, f.what);
    if (k && k.expires >= today) r.expected.push({ ...f, detail: `${f.detail} (known issue until ${k.expires}: ${k.reason})` });
    else if (unstable) r.unstable.push(f);
    else r.regressions.push(f);
  };

  for (const [k, c] of cur) {
    const b = base.get(k);
    const what = `${c.suite}/${c.check}`;
    const reps = c.repetitions;
    const disagree = !!reps && reps.successes > 0 && reps.successes < reps.attempts;
    if (!b) {
      r.newCells.push(`${c.pool} › ${what} (${c.status})`);
      if (disagree) r.unstable.push({ kind: 'success-rate', pool: c.pool, what, before: 'new', after: `${reps.successes}/${reps.attempts}`, detail: 'repetitions disagree' });
      continue;
    }
    if (b.status === 'PASS' && broken(c.status)) {
      const unstable = disagree || flips(k) >= 2;
      place({ kind: 'status', pool: c.pool, what, before: b.status, after: c.status, detail: explain(c) }, unstable);
      continue;
    }
    if (broken(b.status) && c.status === 'PASS') r.improvements.push({ kind: 'status', pool: c.pool, what, before: b.status, after: 'PASS', detail: c.reason });
    if (disagree) {
      const rate = reps.successRate;
      const f: Finding = { kind: 'success-rate', pool: c.pool, what, before: b.repetitions ? `${b.repetitions.successes}/${b.repetitions.attempts}` : b.status, after: `${reps.successes}/${reps.attempts}`, detail: `repetitions disagree (success rate ${(rate * 100).toFixed(1)}%)` };
      if (rate < policy.minSuccessRate && (!b.repetitions || b.repetitions.successRate >= policy.minSuccessRate)) place({ ...f, detail: `${f.detail}, below ${(policy.minSuccessRate * 100).toFixed(1)}%` }, true);
      else r.unstable.push(f);
    }
    if (b.status === 'PASS' && c.status === 'PASS')
      for (const m of policy.metrics) {
        const before = metricValue(b, m.metric);
        const after = metricValue(c, m.metric);
        if (before === undefined || after === undefined || before < m.minBaseline) continue;
        if (after > before * (1 + m.maxIncrease))
          place({ kind: 'metric', pool: c.pool, what: `${what} ${m.metric}`, before: String(Math.round(before)), after: String(Math.round(after)), detail: `+${(((after - before) / before) * 100).toFixed(0)}% (allowed +${(m.maxIncrease * 100).toFixed(0)}%)` }, false);
      }
  }
  for (const k of base.keys()) if (!cur.has(k) && current.pools.some((p) => p.name === base.get(k)!.pool)) r.missingCells.push(k.replace('\0', ' › '));

  // Capabilities present in the baseline and lost now.
  for (const p of current.pools) {
    const bp = baseline.pools.find((x) => x.name === p.name);
    if (!bp) continue;
    for (const [cap, had] of Object.entries(bp.capabilities))
      if (had && p.capabilities[cap] === false)
        place({ kind: 'capability', pool: p.name, what: `criu-check/feature:${cap}`, before: 'present', after: 'missing', detail: `criu check --feature ${cap} no longer succeeds` }, false);
  }

  // Version rules on the current run.
  for (const rule of policy.rules)
    for (const p of current.pools) {
      const criu = looseVersion(p.inventory?.criuVersion);
      const kernel = looseVersion(p.inventory?.kernelRelease);
      if (rule.when.pool && !globMatch(rule.when.pool, p.name)) continue;
      if (rule.when.criu && !(criu && semver.satisfies(criu, rule.when.criu))) continue;
      if (rule.when.kernel && !(kernel && semver.satisfies(kernel, rule.when.kernel))) continue;
      for (const c of current.cells.filter((x) => x.pool === p.name && globMatch(rule.check, `${x.suite}/${x.check}`))) {
        const ok = c.status === 'PASS' || (rule.must === 'PASS_OR_SKIP' && c.status === 'SKIP');
        if (!ok)
          place(
            { kind: 'rule', pool: p.name, what: `${c.suite}/${c.check}`, before: `must ${rule.must}`, after: c.status, detail: `${rule.name ?? `criu ${rule.when.criu ?? '*'} on kernel ${rule.when.kernel ?? '*'}`}: ${explain(c)}` },
            false,
          );
      }
    }

  r.passed = r.regressions.length === 0 && (policy.unstable === 'report' || r.unstable.length === 0);
  return r;
}

export function renderGate(r: GateResult, policy: Policy): string {
  const out: string[] = [];
  // One entry per pool and cause: a broken CRIU does not print the same remedy fifty times.
  const lines = (fs: Finding[]) => {
    const groups = new Map<string, Finding[]>();
    for (const f of fs) {
      const k = `${f.pool}\0${f.kind}\0${f.before}\0${f.after}\0${f.detail}`;
      groups.set(k, [...(groups.get(k) ?? []), f]);
    }
    return [...groups.values()].map((g) => {
      const f = g[0]!;
      const whats = listNames(g.map((x) => x.what));
      return `  ${f.pool} › ${whats}: ${f.before} → ${f.after}\n      ${f.detail}`;
    });
  };
  if (r.regressions.length) out.push(`REGRESSIONS (${r.regressions.length})`, ...lines(r.regressions), '');
  if (r.unstable.length) out.push(`UNSTABLE (${r.unstable.length}; ${policy.unstable === 'fail' ? 'fails the gate by policy' : 'reported, does not fail the gate'})`, ...lines(r.unstable), '');
  if (r.expected.length) out.push(`EXPECTED by known issues (${r.expected.length})`, ...lines(r.expected), '');
  if (r.improvements.length) out.push(`IMPROVEMENTS (${r.improvements.length})`, ...lines(r.improvements), '');
  if (r.newCells.length) out.push(`NEW cells (${r.newCells.length}): ${r.newCells.slice(0, 10).join(', ')}${r.newCells.length > 10 ? ', …' : ''}`, '');
  if (r.missingCells.length) out.push(`NOT RUN now but in the baseline (${r.missingCells.length}): ${r.missingCells.slice(0, 10).join(', ')}${r.missingCells.length > 10 ? ', …' : ''}`, '');
  out.push(r.passed ? 'gate: PASS' : 'gate: FAIL');
  return out.join('\n');
}
