import { ConfigError } from '../errors.ts';
import { RunResults, exitCodeFor, summarize } from '../results/schema.ts';

/**
 * Joins the shards of one matrix (run --shard i/n on several machines) into
 * one run: pools and cells side by side, summary and exit code recomputed,
 * each shard's run id and host kept in mergedFrom. A pool may come from one
 * shard only.
 */
export function mergeRuns(runs: { file: string; results: RunResults }[], runId: string): RunResults {
  if (!runs.length) throw new ConfigError('(merge)', '', 'at least one run');
  const owner = new Map<string, string>();
  for (const r of runs)
    for (const p of r.results.pools) {
      const other = owner.get(p.name);
      if (other) throw new ConfigError(r.file, `pools[${r.results.pools.indexOf(p)}].name`, `a pool no other shard has ("${p.name}" is also in ${other}); merge the shards of one run, each once`);
      owner.set(p.name, r.file);
    }
  const first = runs[0]!.results;
  const cells = runs.flatMap((r) => r.results.cells);
  const notRun = runs.flatMap((r) => r.results.notRun ?? []);
  // Each shard judged the pilots on its own pools (a pool is in one shard only): the verdicts side by side.
  const pilots = runs.some((r) => r.results.pilots) ? runs.flatMap((r) => r.results.pilots ?? []) : undefined;
  const poolErrors = runs.flatMap((r) => r.results.pools).filter((p) => p.error).length;
  return RunResults.parse({
    schema: 'criu-compat/results',
    schemaVersion: 1,
    runId,
    startedAt: runs.map((r) => r.results.startedAt).sort()[0],
    finishedAt: runs.map((r) => r.results.finishedAt).sort().at(-1),
    tool: first.tool,
    host: first.host,
    config: { file: first.config.file, pools: runs.flatMap((r) => r.results.config.pools) },
    pools: runs.flatMap((r) => r.results.pools),
    cells,
    summary: summarize(cells, notRun),
    interrupted: runs.some((r) => r.results.interrupted),
    ...(notRun.length ? { notRun } : {}),
    ...(pilots ? { pilots } : {}),
    exitCode: exitCodeFor(cells, poolErrors),
    mergedFrom: runs.map((r) => ({
      runId: r.results.runId,
      host: r.results.host.hostname,
      ...(r.results.shard ? { shard: `${r.results.shard.index}/${r.results.shard.count}` } : {}),
      pools: r.results.pools.map((p) => p.name),
    })),
  });
}
