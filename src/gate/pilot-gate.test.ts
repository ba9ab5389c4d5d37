import { describe, expect, test } from 'vitest';
import { recordedWithPilots } from '../../test/pilot-results.ts';
import type { Cell, RunResults } from '../results/schema.ts';
import { runGate } from './gate.ts';
import { Policy } from './policy.ts';
import { renderGate, renderGateMarkdown } from './render.ts';

// The recorded default run with synthetic pilot cells; each "current" run edits cells and has its verdicts judged again.
const base = recordedWithPilots();
const TODAY = '2026-11-25';
const gate = (cur: RunResults, p: unknown = {}) => runGate(base, cur, Policy.parse(p), { today: TODAY });
const edit = (pool: string, check: string, change: Partial<Cell> | ((c: Cell) => Cell)) => (cells: Cell[]) =>
  cells.map((c) => (c.pool === pool && c.check === check ? (typeof change === 'function' ? change(c) : { ...c, ...change }) : c));
const verdict = (r: RunResults, pool: string, pilot: string) => r.pilots!.find((v) => v.pool === pool && v.pilot === pilot)!.verdict;

describe('gate on pilot verdicts', () => {
  test('a run with pilots against itself passes', () => {
    expect(gate(base)).toMatchObject({ passed: true, regressions: [], improvements: [] });
  });

  test('GO → CONDITIONAL is a regression of its own kind, with the conditions and why', () => {
    // host-trixie's redis loses its held connection; reconnecting clients are fine.
    const cur = recordedWithPilots((cells) => [
      ...edit('host-trixie', 'redis/checkpoint-restore', (c) => ({ ...c, status: 'FAIL', metrics: { pilot: { ...c.metrics.pilot!, successes: 0, heldConnectionSurvived: 0 } } }))(cells),
      { ...cells.find((c) => c.pool === 'k6.12-trixie' && c.check === 'redis/checkpoint-restore/reconnect')!, pool: 'host-trixie' },
    ]);
    expect(verdict(cur, 'host-trixie', 'redis')).toBe('CONDITIONAL');
    const g = gate(cur);
    expect(g.passed).toBe(false);
    const f = g.regressions.find((x) => x.kind === 'pilot-verdict')!;
    expect(f).toMatchObject({ pool: 'host-trixie', what: 'pilot/redis', before: 'GO', after: 'CONDITIONAL (only without established TCP: clients must reconnect)' });
    expect(f.detail).toMatch(/response: disable established-TCP restore/);
    // The cell that broke is its own regression too.
    expect(g.regressions).toContainEqual(expect.objectContaining({ kind: 'status', what: 'pilot/redis/checkpoint-restore', before: 'PASS', after: 'FAIL' }));
    expect(renderGate(g, Policy.parse({}))).toMatch(/host-trixie › pilot\/redis: GO → CONDITIONAL \(only without established TCP/);
    expect(renderGateMarkdown(g, Policy.parse({}), base, cur)).toContain('### Pilot verdicts');
  });

  test('CONDITIONAL → CONDITIONAL with stricter conditions (a migration pair lost, another condition added) is a regression; looser is not', () => {
    // nginx on host-trixie: CONDITIONAL "only between these pools: host-trixie → k6.12-trixie". Now the move to
    // k6.12-trixie misses the gap budget (its cell still PASSes) and the one to k6.1-trixie works: a pair the rollout relied on is gone.
    const cur = recordedWithPilots((cells) => {
      const out = edit('host-trixie', 'nginx/migration → k6.12-trixie', (c) => ({ ...c, metrics: { pilot: { ...c.metrics.pilot!, clientGapMsMax: 3500 } } }))(cells);
      return edit('host-trixie', 'nginx/migration → k6.1-trixie', (c) => ({ ...c, status: 'PASS', reason: 'all 5 attempts verified', metrics: { pilot: { ...c.metrics.pilot!, successes: 5 } } }))(out);
    });
    expect(verdict(cur, 'host-trixie', 'nginx')).toBe('CONDITIONAL');
    const g = gate(cur);
    expect(g.passed).toBe(false);
    expect(g.regressions.find((x) => x.kind === 'pilot-verdict')).toMatchObject({
      pool: 'host-trixie',
      what: 'pilot/nginx',
      before: 'CONDITIONAL (only between these pools: host-trixie → k6.12-trixie)',
      after: 'CONDITIONAL (only between these pools: host-trixie → k6.1-trixie)',
      detail: expect.stringMatching(/^stricter conditions: no longer host-trixie → k6\.12-trixie/),
    });
    // Looser (both destinations now met): GO, an improvement; the same conditions: nothing.
    const looser = recordedWithPilots(edit('host-trixie', 'nginx/migration → k6.1-trixie', (c) => ({ ...c, status: 'PASS', metrics: { pilot: { ...c.metrics.pilot!, successes: 5 } } })));
    expect(gate(looser).regressions.filter((x) => x.kind === 'pilot-verdict')).toEqual([]);
  });

  test('CONDITIONAL → NO-GO and anything → UNDECIDED are regressions; NO-GO → GO an improvement', () => {
    const cur = recordedWithPilots((cells) => {
      let out = edit('k6.12-trixie', 'postgres/checkpoint-restore/pre-copy', (c) => ({ ...c, metrics: { pilot: { ...c.metrics.pilot!, freezeMsP95: 400 } } }))(cells); // CONDITIONAL → NO-GO
      out = out.filter((c) => !(c.pool === 'host-trixie' && c.check === 'nginx/leave-running')); // CONDITIONAL → UNDECIDED (a cell missing)
      out = edit('k6.12-trixie', 'nginx/leave-running', (c) => ({ ...c, metrics: { pilot: { ...c.metrics.pilot!, imageBytesMax: 2 ** 24 } } }))(out);
      return edit('k6.12-trixie', 'nginx/checkpoint-restore', (c) => ({ ...c, metrics: { pilot: { ...c.metrics.pilot!, imageBytesMax: 2 ** 24 } } }))(out); // NO-GO → GO
    });
    const g = gate(cur);
    const pv = g.regressions.filter((x) => x.kind === 'pilot-verdict').map((x) => `${x.pool} ${x.what} ${x.before.split(' ')[0]} → ${x.after.split(' ')[0]}`);
    expect(pv).toEqual(['host-trixie pilot/nginx CONDITIONAL → UNDECIDED', 'k6.12-trixie pilot/postgres CONDITIONAL → NO-GO']);
    expect(g.improvements.filter((x) => x.kind === 'pilot-verdict')).toEqual([expect.objectContaining({ pool: 'k6.12-trixie', what: 'pilot/nginx', before: 'NO-GO', after: 'GO' })]);
  });

  test('a verdict the baseline had and this run lacks is a regression, unless the policy retires it; a known issue covers a worse verdict', () => {
    const { pilots: _, ...without } = base;
    const g = gate(without);
    expect(g.regressions.filter((x) => x.kind === 'missing-pilot-verdict').map((x) => `${x.pool} ${x.what}`)).toHaveLength(7);
    const retired = gate(without, { retired: [{ pool: '*', check: 'pilot/*', reason: 'pilots moved to their own pipeline', expires: '2027-01-01' }] });
    expect(retired.regressions.filter((x) => x.kind === 'missing-pilot-verdict')).toEqual([]);
    expect(retired.retired.filter((x) => x.kind === 'missing-pilot-verdict')).toHaveLength(7);

    const worse = recordedWithPilots(edit('host-trixie', 'redis/leave-running', { status: 'ERROR' }));
    const known = gate(worse, { knownIssues: [{ pool: 'host-trixie', check: 'pilot/redis*', reason: 'node flaky under load, tracked in #99', expires: '2027-01-01' }] });
    expect(known.regressions).toEqual([]);
    expect(known.expected).toContainEqual(expect.objectContaining({ kind: 'pilot-verdict', what: 'pilot/redis', after: 'UNDECIDED' }));
  });

  test('a pool gone altogether is one missing-pool finding, not one per pilot as well', () => {
    const cur = { ...base, pools: base.pools.filter((p) => p.name !== 'k6.12-trixie'), cells: base.cells.filter((c) => c.pool !== 'k6.12-trixie'), pilots: base.pilots!.filter((v) => v.pool !== 'k6.12-trixie') };
    const g = gate(cur);
    expect(g.regressions.filter((x) => x.pool === 'k6.12-trixie').map((x) => x.kind)).toEqual(['missing-pool']);
  });
});
