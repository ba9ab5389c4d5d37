/**
 * Large runs for the gate's benchmark, made from the recorded real run
 * (fixtures/recorded/results/default-matrix.json) by replicating its pools:
 * pool P becomes P~1, P~2, … with the same cells, capabilities and inventory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunResults, summarize } from '../src/results/schema.ts';

export const RECORDED_RUN = join(import.meta.dirname, '../fixtures/recorded/results/default-matrix.json');

export interface GateRuns {
  baseline: RunResults;
  current: RunResults;
  /** One earlier run, in which some of the cells that regress now had failed too (they flip). */
  history: RunResults;
  regressions: number;
}

/** A baseline and a current run of `cells` cells; `regressions` cells that PASSed in the baseline FAIL now (with a real failing cell's reason and diagnosis). */
export function gateRuns(opts: { cells: number; regressions: number; flipping: number }): GateRuns {
  const real = RunResults.parse(JSON.parse(readFileSync(RECORDED_RUN, 'utf8')));
  const copies = Math.ceil(opts.cells / real.cells.length);
  const pools = Array.from({ length: copies }, (_, i) => real.pools.map((p) => ({ ...structuredClone(p), name: `${p.name}~${i + 1}` }))).flat();
  const cells = Array.from({ length: copies }, (_, i) => real.cells.map((c) => ({ ...structuredClone(c), pool: `${c.pool}~${i + 1}` })))
    .flat()
    .slice(0, opts.cells);
  const make = (runId: string, cs = cells): RunResults => ({ ...real, runId, pools, cells: cs, config: { ...real.config, pools: pools.map((p) => p.name) }, summary: summarize(cs) });
  const baseline = make('baseline');
  const failing = real.cells.find((c) => c.status === 'FAIL' && c.suite === 'round-trip')!;
  const passing = cells.flatMap((c, i) => (c.status === 'PASS' ? [i] : []));
  if (passing.length < opts.regressions) throw new Error(`only ${passing.length} PASS cells for ${opts.regressions} regressions`);
  // Spread the regressions evenly over the run.
  const step = passing.length / opts.regressions;
  const regressed = Array.from({ length: opts.regressions }, (_, j) => passing[Math.floor(j * step)]!);
  const fail = (cs: typeof cells, at: number[]) => {
    const out = [...cs];
    for (const i of at) out[i] = { ...out[i]!, status: 'FAIL', reason: failing.reason, diagnoses: failing.diagnoses };
    return out;
  };
  const current = make('current', fail(cells, regressed));
  const history = make('history', fail(cells, regressed.slice(0, opts.flipping)));
  return { baseline, current, history, regressions: opts.regressions };
}
