import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { resultsJsonSchema } from '../report/json-schema.ts';
import { writeHistory } from '../report/history.ts';
import { mergeRuns } from '../report/merge.ts';
import { newRunId } from '../runner/run-id.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { readRun, writeReports } from '../report/write.ts';

export const REPORT_HELP = `Usage: criu-compat report RUN... [--out DIR]
       criu-compat report --history DIR
       criu-compat report --schema

Renders each run (a run directory or its results.json) into report.html
(self-contained), summary.md (for CI step summaries), junit.xml and
results.schema.json. \`run\` writes these itself at the end of every run.

Options:
  -o, --out DIR     write into DIR/RUN-ID/, with a copy of results.json (default:
                    beside each results.json)
      --history DIR every run under DIR (DIR/*/results.json): their reports plus
                    DIR/index.html, each pool's status per run (a static site)
      --schema      print the JSON Schema of results.json and exit
  -h, --help        this help

Exit: 0 written; 2 a RUN is missing or not a valid results.json.`;

export async function reportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string', short: 'o' }, history: { type: 'string' }, schema: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(REPORT_HELP);
    return 0;
  }
  if (values.schema) {
    process.stdout.write(`${JSON.stringify(resultsJsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (values.history) {
    const h = await writeHistory(resolve(values.history));
    if (!h.runs) throw new UsageError(`no runs under ${values.history} (expected DIR/RUN-ID/results.json)`);
    console.log(`${h.runs} runs: ${h.index}`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('report needs at least one RUN (a run directory or results.json); see criu-compat report --help');
  // Every input is validated before anything is written.
  const runs = await Promise.all(positionals.map(async (p) => ({ path: resolve(p), results: await readRun(p) })));
  for (const r of runs) {
    const dir = values.out ? join(resolve(values.out), r.results.runId) : r.path.endsWith('.json') ? resolve(r.path, '..') : r.path;
    // A report elsewhere carries its results.json too: a publishable, self-describing directory.
    if (values.out) await writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify(r.results, null, 2)}\n`);
    const files = await writeReports(r.results, dir);
    console.log(`${r.results.runId}: ${files.html}`);
  }
  return 0;
}

export const MERGE_HELP = `Usage: criu-compat merge RUN... [--out DIR]

Joins the shards of one matrix (each made by 'run --shard I/N', e.g. on
several CI runners) into one run: DIR/RUN-ID/results.json and its reports.
Every RUN is validated first; a pool present in two shards is an error.

Options:
  -o, --out DIR   where the merged run directory goes (default: reports)
  -h, --help      this help

Exit: the merged run's verdict (0 pass, 1 a tuple failed, 2 an ERROR cell); 2 when a shard
was interrupted, a shard of the split is missing, or on bad input.`;

export async function mergeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string', short: 'o', default: 'reports' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    console.log(MERGE_HELP);
    return 0;
  }
  if (!positionals.length) throw new UsageError('merge needs the shard runs to join; see criu-compat merge --help');
  const runs = await Promise.all(positionals.map(async (p) => ({ file: resolve(p), results: await readRun(p) })));
  const merged = mergeRuns(runs, newRunId()); // a pool in two shards is refused here
  // Shards of one split, all of them: a merge of 3 of 4 shards would look like a whole matrix.
  const counts = new Set(runs.map((r) => r.results.shard?.count));
  if (counts.size === 1 && [...counts][0] !== undefined) {
    const count = [...counts][0]!;
    const have = new Set(runs.map((r) => r.results.shard!.index));
    const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !have.has(i));
    if (missing.length) throw new UsageError(`merge: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${count} missing; pass every shard's run`);
  } else if (counts.size > 1) throw new UsageError(`merge: the runs come from different splits (shard counts ${[...counts].map((c) => c ?? 'none').join(', ')})`);
  const dir = join(resolve(values.out), merged.runId);
  await writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify(merged, null, 2)}\n`);
  const files = await writeReports(merged, dir);
  console.log(`merged ${runs.length} runs (${merged.pools.length} pools, ${merged.cells.length} cells): ${join(dir, 'results.json')}\n${files.html}`);
  // An interrupted shard is no verdict: fail closed even where every cell that ran passed.
  if (merged.interrupted || merged.notRun?.length) {
    console.error(`criu-compat: merge: a shard was interrupted (${merged.notRun?.length ?? 0} cells not run): this matrix is incomplete`);
    return 2;
  }
  return merged.exitCode;
}
