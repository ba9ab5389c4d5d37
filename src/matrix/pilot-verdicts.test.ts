import { describe, expect, test } from 'vitest';
import { Pilot } from '../config/pilot-schema.ts';
import { Cell, PilotVerdict } from '../results/schema.ts';
import { conditionsStricter, describeReason, judgePilots } from './pilot-verdicts.ts';

/** A pilot as a config file would give it (defaults applied by the schema). */
const pilot = (over: Record<string, unknown> = {}) =>
  Pilot.parse({
    name: 'redis',
    pools: ['host-trixie'],
    service: { command: ['redis-server'], user: 'redis' },
    ready: { tcp: { port: 6379 } },
    client: { held: { port: 6379, send: 'PING\r\n', expect: '+PONG' } },
    attempts: 5,
    stages: ['leave-running', 'checkpoint-restore'],
    criteria: { freezeMsP95: 500, clientGapMsMax: 2000, imageBytesMax: 64 * 2 ** 20 },
    ...over,
  });

const GOOD = { attempts: 5, successes: 5, freezeMsP95: 120, freezeMsMax: 150, checkpointMsP95: 300, checkpointMsMax: 320, restoreMsP95: 200, restoreMsMax: 210, imageBytesMax: 9e6, clientGapMsMax: 400, clientErrors: 0, clientProbes: 90, heldConnectionSurvived: 1 };

/** A cell shaped as the pilot suite emits it (the contract's check names and metrics.pilot keys). */
function cell(check: string, status: Cell['status'], pilotMetrics: Record<string, number> | null = GOOD, over: Partial<Cell> = {}): Cell {
  const [name, ...rest] = check.split('/');
  const stage = rest.join('/');
  const migration = /^migration → (.+)$/.exec(stage);
  return Cell.parse({
    pool: 'host-trixie',
    suite: 'pilot',
    check,
    pilot: name,
    mode: migration ? 'migration' : stage.split('/')[0],
    ...(migration ? { source: 'host-trixie', destination: migration[1] } : {}),
    status,
    reason: status === 'PASS' ? 'every attempt verified' : status === 'SKIP' ? 'capability missing: mem_dirty_track' : status === 'ERROR' ? 'the node stopped answering' : 'restore failed',
    diagnoses: [],
    durations: { totalMs: 1000 },
    metrics: pilotMetrics ? { pilot: pilotMetrics } : {},
    logExcerpt: [],
    startedAt: '2026-11-30T10:00:00.000Z',
    ...over,
  });
}

const base = () => [cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS'), cell('redis/checkpoint-restore', 'PASS')];
const judge = (cells: Cell[], p = pilot()) => {
  const v = judgePilots([p], cells);
  expect(v).toHaveLength(1);
  for (const x of v) PilotVerdict.parse(x); // the shape results.json validates
  return v[0]!;
};

describe('pilot verdicts: GO', () => {
  test('start, leave-running and checkpoint-restore PASS with every criterion met: GO, every criterion in the reasons', () => {
    const v = judge(base());
    expect(v).toMatchObject({ pilot: 'redis', pool: 'host-trixie', verdict: 'GO', conditions: [], response: null });
    expect(v.evidence).toEqual(['redis/start', 'redis/leave-running', 'redis/checkpoint-restore']);
    const cr = v.reasons.filter((r) => r.cell === 'redis/checkpoint-restore');
    expect(cr.map((r) => r.criterion)).toEqual(['status', 'restoreSuccessRate', 'freezeMsP95', 'imageBytesMax', 'clientGapMsMax', 'clientErrorsMax', 'heldConnectionSurvived']);
    expect(cr.every((r) => r.ok)).toBe(true);
    expect(cr.find((r) => r.criterion === 'freezeMsP95')).toMatchObject({ measured: 120, limit: 500 });
    // leave-running has no restore: no restore limit is judged on it.
    expect(judge(base(), pilot({ criteria: { restoreMsMax: 1000 } })).reasons.filter((r) => r.criterion === 'restoreMsMax').map((r) => r.cell)).toEqual(['redis/checkpoint-restore']);
  });

  test('a FAIL within the operator\'s success-rate tolerance meets it (19/20 against ≥ 95%), not against the default 100%', () => {
    const m = { ...GOOD, attempts: 20, successes: 19 };
    // The held connection's variant ran and failed too (the suite runs it after a FAIL).
    const cells = [cell('redis/start', 'PASS', null), cell('redis/checkpoint-restore', 'FAIL', m), cell('redis/checkpoint-restore/reconnect', 'FAIL', m)];
    const p = (rate?: number) => pilot({ attempts: 20, stages: ['checkpoint-restore'], criteria: { ...(rate ? { restoreSuccessRate: rate } : {}) } });
    expect(judge(cells, p(0.95)).verdict).toBe('GO');
    const strict = judge(cells, p());
    expect(strict.verdict).toBe('NO-GO');
    expect(strict.reasons.find((r) => r.criterion === 'restoreSuccessRate')).toMatchObject({ measured: 0.95, limit: 1, ok: false });
  });
});

describe('pilot verdicts: UNDECIDED (fail closed)', () => {
  test('an ERROR cell', () => {
    const cells = base().map((c) => (c.check === 'redis/checkpoint-restore' ? { ...c, status: 'ERROR' as const, reason: 'the node stopped answering' } : c));
    const v = judge(cells);
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/redis\/checkpoint-restore ERROR .*the node stopped answering/);
    expect(v.response).toBeNull();
  });

  test('a missing cell', () => {
    const v = judge(base().filter((c) => c.check !== 'redis/leave-running'));
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/redis\/leave-running has no cell/);
    expect(v.reasons).toContainEqual({ criterion: 'status', measured: null, limit: 'PASS', ok: false, cell: 'redis/leave-running' });
    expect(v.evidence).not.toContain('redis/leave-running');
  });

  test("a criterion's number not measured (freeze p95 absent from a PASS cell)", () => {
    const { freezeMsP95: _, ...m } = GOOD;
    const v = judge([cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS'), cell('redis/checkpoint-restore', 'PASS', m)]);
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/not measured: freeze p95/);
    expect(v.reasons.find((r) => r.cell === 'redis/checkpoint-restore' && r.criterion === 'freezeMsP95')).toMatchObject({ measured: null, ok: false });
  });

  test('a client budget without a client to measure it', () => {
    const { clientGapMsMax: _g, clientErrors: _e, clientProbes: _p, heldConnectionSurvived: _h, ...m } = GOOD;
    const cells = [cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS', m), cell('redis/checkpoint-restore', 'PASS', m)];
    expect(judge(cells, pilot({ client: undefined, criteria: { freezeMsP95: 500 } })).verdict).toBe('GO');
    const v = judge(cells, pilot({ client: undefined, criteria: { clientGapMsMax: 100 } }));
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/not measured: client gap max/);
  });

  test('fewer attempts measured than the pilot asked for, all passed, prove less than asked', () => {
    const m = { ...GOOD, attempts: 3, successes: 3 };
    expect(judge([cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS', m), cell('redis/checkpoint-restore', 'PASS', m)]).verdict).toBe('UNDECIDED');
  });

  test('the service does not even pass without a checkpoint: nothing about C/R can be judged', () => {
    const v = judge([cell('redis/start', 'FAIL', null), ...base().slice(1)]);
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/did not start and verify without a checkpoint/);
  });

  test('UNDECIDED outranks a NO-GO elsewhere (a stage missed, another not measured)', () => {
    const v = judge([cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS', { ...GOOD, freezeMsP95: 900 }), cell('redis/checkpoint-restore', 'ERROR')]);
    expect(v.verdict).toBe('UNDECIDED');
  });

  test('a primary stage skipped (a capability missing) is not judged; stages skipped for one cause are told once', () => {
    expect(judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'SKIP', null)]).verdict).toBe('UNDECIDED');
    const v = judge([base()[0]!, cell('redis/leave-running', 'SKIP', null), cell('redis/checkpoint-restore', 'SKIP', null)]);
    expect(v.why).toBe('redis/leave-running, redis/checkpoint-restore skipped: capability missing: mem_dirty_track');
  });

  test('a variant that might have helped broke (ERROR)', () => {
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0, heldConnectionSurvived: 0 }), cell('redis/checkpoint-restore/reconnect', 'ERROR', null)];
    const v = judge(cells);
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/reconnect ERROR.*might have helped/);
  });

  test('a variant the primary called for has no cell (the run was interrupted, or it never ran): not "no variant helped"', () => {
    // The held connection was lost: the suite runs the reconnect variant on that; without its cell nothing says it would not have helped.
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0, heldConnectionSurvived: 0 })];
    const v = judge(cells);
    expect(v.verdict).toBe('UNDECIDED');
    expect(v.why).toMatch(/redis\/checkpoint-restore\/reconnect has no cell/);
    expect(v.reasons).toContainEqual({ criterion: 'status', measured: null, limit: 'PASS', ok: false, cell: 'redis/checkpoint-restore/reconnect' });
    // The freeze missed and pre-copy did not run: the same.
    expect(judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'PASS', { ...GOOD, freezeMsP95: 800 })]).verdict).toBe('UNDECIDED');
    // A variant the rule does not call for (no held connection, no --tcp-established) is not awaited.
    const tcp = pilot({ client: { tcp: { port: 6379 } } });
    expect(judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0 })], tcp).verdict).toBe('NO-GO');
  });

  test('a migration stage without migrateTo', () => {
    expect(judge(base(), pilot({ stages: ['checkpoint-restore', 'migration'] })).why).toMatch(/needs migrateTo/);
  });
});

describe('pilot verdicts: CONDITIONAL', () => {
  test('held connection lost, the reconnect variant meets every criterion: only without established TCP', () => {
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0, heldConnectionSurvived: 0 }), cell('redis/checkpoint-restore/reconnect', 'PASS', { ...GOOD, heldConnectionSurvived: 0 })];
    const v = judge(cells);
    expect(v.verdict).toBe('CONDITIONAL');
    expect(v.conditions).toEqual(['only without established TCP: clients must reconnect']);
    expect(v.response).toMatch(/disable established-TCP restore/);
    expect(v.evidence).toContain('redis/checkpoint-restore/reconnect');
    // The variant is not judged on the held connection it does not hold.
    expect(v.reasons.filter((r) => r.cell === 'redis/checkpoint-restore/reconnect').map((r) => r.criterion)).not.toContain('heldConnectionSurvived');
  });

  test('freeze budget missed, pre-copy stays under it: only with pre-copy', () => {
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'PASS', { ...GOOD, freezeMsP95: 800 }), cell('redis/checkpoint-restore/pre-copy', 'PASS', { ...GOOD, freezeMsP95: 90 })];
    const v = judge(cells);
    expect(v.verdict).toBe('CONDITIONAL');
    expect(v.conditions).toEqual(['only with pre-copy to stay under the freeze budget']);
    expect(v.why).toMatch(/freeze p95 800 ms > 500 ms/);
    expect(v.response).toMatch(/pre-dumps first/);
  });

  test('migration meets the criteria to some destinations only: only between these pools', () => {
    const p = pilot({ stages: ['checkpoint-restore', 'migration'], migrateTo: ['host-trixie', 'k6.12-trixie', 'k6.1-bookworm'] });
    const cells = [base()[0]!, base()[2]!, cell('redis/migration → k6.12-trixie', 'PASS'), cell('redis/migration → k6.1-bookworm', 'FAIL', { ...GOOD, successes: 0 })];
    const v = judge(cells, p);
    expect(v.verdict).toBe('CONDITIONAL');
    expect(v.conditions).toEqual(['only between these pools: host-trixie → k6.12-trixie']);
    expect(v.response).toMatch(/cold-start fallback .*host-trixie → k6\.1-bookworm/);
    expect(v.evidence).toEqual(['redis/start', 'redis/checkpoint-restore', 'redis/migration → k6.12-trixie', 'redis/migration → k6.1-bookworm']);
  });

  test('a migration that verified everywhere but lost its held connection: only with clients that reconnect; anything else missed is not excused', () => {
    const p = pilot({ stages: ['migration'], migrateTo: ['k6.12-trixie'] });
    const lost = cell('redis/migration → k6.12-trixie', 'PASS', { ...GOOD, heldConnectionSurvived: 0 });
    const v = judge([base()[0]!, lost], p);
    expect(v.verdict).toBe('CONDITIONAL');
    expect(v.conditions).toEqual(['only without established TCP: clients must reconnect']);
    expect(v.response).toMatch(/disable established-TCP restore.*does not follow the service to k6\.12-trixie/);
    expect(v.why).toMatch(/held connection survived 0 ≠ 1/);
    // The same loss with a gap over the budget: NO-GO, not excused by the condition.
    const slow = cell('redis/migration → k6.12-trixie', 'PASS', { ...GOOD, heldConnectionSurvived: 0, clientGapMsMax: 9000 });
    expect(judge([base()[0]!, slow], p).verdict).toBe('NO-GO');
    // Not measured (no held client saw the move): UNDECIDED.
    const { heldConnectionSurvived: _, ...unmeasured } = GOOD;
    expect(judge([base()[0]!, cell('redis/migration → k6.12-trixie', 'PASS', unmeasured)], p).verdict).toBe('UNDECIDED');
  });

  test('a session client holds its connection as a held one does: judged on heldConnectionSurvived', () => {
    const p = pilot({ client: { session: { command: ['psql'], send: 'SELECT 1;\n', expect: '1' } } });
    const v = judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'PASS', { ...GOOD, heldConnectionSurvived: 0 }), cell('redis/checkpoint-restore/reconnect', 'FAIL', { ...GOOD, successes: 0 })], p);
    expect(v.reasons.find((r) => r.criterion === 'heldConnectionSurvived' && r.cell === 'redis/checkpoint-restore')).toMatchObject({ measured: 0, ok: false });
    expect(v.verdict).toBe('NO-GO');
  });
});

describe("pilot verdicts: NO-GO with the playbook's response", () => {
  test('checkpoint-restore fails and no variant could help (the client reconnects anyway): cold-start fallback, tuple incompatible', () => {
    const v = judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 2 })], pilot({ client: { tcp: { port: 6379 } } }));
    expect(v.verdict).toBe('NO-GO');
    expect(v.why).toMatch(/success rate 40\.0% < 100\.0%.*restore failed/);
    expect(v.response).toMatch(/cold-start fallback.*incompatible/);
    expect(v.conditions).toEqual([]);
  });

  test('held connection lost and the reconnect variant fails too: disable established-TCP restore', () => {
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0, heldConnectionSurvived: 0 }), cell('redis/checkpoint-restore/reconnect', 'FAIL', { ...GOOD, successes: 1 })];
    const v = judge(cells);
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toMatch(/^unstable TCP restore: disable established-TCP restore/);
    expect(v.why).toMatch(/no variant helped/);
  });

  test('restore fails on every destination: cold-start fallback on the destination', () => {
    const p = pilot({ stages: ['migration'], migrateTo: ['k6.12-trixie'] });
    const v = judge([base()[0]!, cell('redis/migration → k6.12-trixie', 'FAIL', { ...GOOD, successes: 0 })], p);
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toMatch(/^restore fails on the destination: keep the cold-start fallback/);
  });

  test('images bigger than the limit: quotas, TTL, compression', () => {
    const v = judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'PASS', { ...GOOD, imageBytesMax: 2 ** 30 })]);
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toBe('artifact growth: quotas, a TTL and compression for checkpoint images');
  });

  test('secrets seen in the images: halt non-essential checkpoints, rotate secrets, audit access', () => {
    const diag = { id: 'secret-in-image', fatal: true, title: 'the service keeps a secret in memory', cause: 'c', remediation: 'r', blame: 'tuple' as const, evidence: 'pages-1.img' };
    const v = judge([...base().slice(0, 2), cell('redis/checkpoint-restore', 'FAIL', { ...GOOD, successes: 0 }, { diagnoses: [diag] })], pilot({ client: { tcp: { port: 6379 } } }));
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toMatch(/^memory artifact concern: halt non-essential checkpoints, rotate the secrets/);
  });

  test('freeze budget missed and pre-copy skipped (no dirty tracking): NO-GO, the skip named in the reasons', () => {
    const cells = [...base().slice(0, 2), cell('redis/checkpoint-restore', 'PASS', { ...GOOD, freezeMsP95: 800 }), cell('redis/checkpoint-restore/pre-copy', 'SKIP', null)];
    const v = judge(cells);
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toMatch(/^freeze budget missed/);
    expect(v.reasons).toContainEqual({ criterion: 'status', measured: 'SKIP', limit: 'PASS', ok: false, cell: 'redis/checkpoint-restore/pre-copy' });
  });

  test('leave-running misses the client budget: NO-GO (no variant exists for it)', () => {
    const v = judge([base()[0]!, cell('redis/leave-running', 'PASS', { ...GOOD, clientGapMsMax: 5000 }), base()[2]!]);
    expect(v.verdict).toBe('NO-GO');
    expect(v.response).toMatch(/^clients saw more disruption/);
  });
});

describe('pilot verdicts: scope', () => {
  test('one verdict per pilot and pool, only for the pools of the run when given', () => {
    const p = pilot({ pools: ['host-trixie', 'k6.12-trixie'] });
    expect(judgePilots([p], base()).map((v) => `${v.pool} ${v.verdict}`)).toEqual(['host-trixie GO', 'k6.12-trixie UNDECIDED']);
    expect(judgePilots([p], base(), { pools: ['host-trixie'] }).map((v) => v.pool)).toEqual(['host-trixie']);
    // Cells of other suites or pilots are not evidence.
    expect(judgePilots([pilot({ name: 'nginx' })], base())[0]!.verdict).toBe('UNDECIDED');
  });

  test('a p95 over fewer than 20 attempts is their maximum, and reads so (not as a p95 of a distribution)', () => {
    const freeze = (n: number) => ({ distribution: { freezeMs: { n, p50: 90, p95: 150, max: 150 } } });
    const few = judge([cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS', GOOD, freeze(5)), cell('redis/checkpoint-restore', 'PASS', GOOD, freeze(5))]);
    const r = few.reasons.find((x) => x.criterion === 'freezeMsP95')!;
    expect(r).toMatchObject({ measured: 120, samples: 5 });
    expect(describeReason(r)).toBe('freeze p95 (max of 5 samples) 120 ms ≤ 500 ms');
    const many = judge([cell('redis/start', 'PASS', null), cell('redis/leave-running', 'PASS', GOOD, freeze(40)), cell('redis/checkpoint-restore', 'PASS', GOOD, freeze(40))], pilot({ attempts: 40 }));
    const m = many.reasons.find((x) => x.criterion === 'freezeMsP95')!;
    expect(describeReason(m)).toBe('freeze p95 (40 samples) 120 ms ≤ 500 ms');
  });

  test('stricter conditions, as the gate compares them: a way out fewer, a condition added, a migration pair lost', () => {
    const R = 'only without established TCP: clients must reconnect';
    const P = 'only with pre-copy to stay under the freeze budget';
    expect(conditionsStricter([`one of: ${R} | ${P}`], [P])).toEqual([P]);
    expect(conditionsStricter([P], [`one of: ${R} | ${P}`])).toEqual([]);
    expect(conditionsStricter([R], [R, P])).toEqual([P]);
    expect(conditionsStricter([R, P], [R])).toEqual([]);
    expect(conditionsStricter(['only between these pools: a → b, a → c'], ['only between these pools: a → b'])).toEqual(['no longer a → c']);
    expect(conditionsStricter(['only between these pools: a → b'], ['only between these pools: a → b, a → c'])).toEqual([]);
    expect(conditionsStricter([R], [R, 'only between these pools: a → b'])).toEqual(['only between these pools: a → b (before: every destination)']);
  });

  test('reasons read as measured vs limit', () => {
    expect(describeReason({ criterion: 'freezeMsP95', measured: 812.4, limit: 500, ok: false, cell: 'x' })).toBe('freeze p95 812.4 ms > 500 ms');
    expect(describeReason({ criterion: 'restoreSuccessRate', measured: 1, limit: 0.99, ok: true, cell: 'x' })).toBe('success rate 100.0% ≥ 99.0%');
    expect(describeReason({ criterion: 'clientGapMsMax', measured: null, limit: 100, ok: false, cell: 'x' })).toBe('client gap max not measured > 100 ms');
  });
});
