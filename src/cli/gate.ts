import { open, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, UsageError } from '../errors.ts';
import { runGate } from '../gate/gate.ts';
import { loadPolicy } from '../gate/policy.ts';
import { renderGate, renderGateMarkdown } from '../gate/render.ts';
import { runDefects } from '../gate/run-defects.ts';
import { readRun } from '../report/write.ts';
import type { RunResults } from '../results/schema.ts';
import { writeFileAtomic } from '../util/fs.ts';

export const GATE_HELP = `Usage: criu-compat gate --baseline B --current C [--policy P] [--history RUN]... [--summary FILE]

Compares a run with a baseline (each a run directory or a results.json) and
fails (exit 1) on a regression, each cell counted once with all its reasons:
  - a cell that PASSed and now FAILs or ERRORs;
  - a success rate over repetitions below the policy's minSuccessRate where
    the baseline was at or above it (attempts/successes before and after);
  - a CRIU capability lost, a metric beyond its threshold, a version rule broken;
  - a pool of the baseline absent now, or a cell that PASSed in the baseline
    and did not run now in a pool that did, unless the policy retires it
    (retired: [{pool, check?, reason, expires}]): results do not say which
    suites a config selected, so a dropped check is lost until retired;
  - a run that cannot be judged: interrupted, without pools or cells, or
    holding a cell twice;
  - an expired known issue or retirement (one that matches nothing now says
    "remove this entry").
Unstable cells (repetitions disagree at or above the minimum, or the cell
flips between PASS and FAIL across --history runs; the runs are named) are
listed apart; the policy decides whether they fail. Improvements, new cells
and baseline cells that did not pass and did not run now are listed, never
failed.
The baseline must be one 'baseline accept' takes (complete, not empty, each
cell once), else exit 2.

Options:
  -b, --baseline B    the baseline run
  -c, --current C     the run to judge
  -p, --policy P      YAML/JSON policy (metrics, minSuccessRate, unstable,
                      knownIssues, retired, rules)
      --history RUN   earlier runs, oldest first (repeatable), to tell flaky from broken
      --summary FILE  append a Markdown summary headed by the gate's verdict,
                      e.g. $GITHUB_STEP_SUMMARY; checked writable before judging
  -h, --help          this help

Exit: 0 no regression; 1 regression; 2 bad input (file, path, expectation
named) or a --summary FILE that cannot be written (nothing judged then).`;

export const BASELINE_HELP = `Usage: criu-compat baseline accept RUN [--to FILE]

Validates RUN (a run directory or its results.json) and makes it the baseline:
copies its results.json to FILE (default: criu-compat-baseline.json), to be
committed and passed to 'criu-compat gate --baseline FILE'. An interrupted run,
a run without pools or cells and a run holding a cell twice are refused (exit 2).`;

export async function gateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      baseline: { type: 'string', short: 'b' },
      current: { type: 'string', short: 'c' },
      policy: { type: 'string', short: 'p' },
      history: { type: 'string', multiple: true },
      summary: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(GATE_HELP);
    return 0;
  }
  if (!values.baseline || !values.current) throw new UsageError('gate needs --baseline and --current; see criu-compat gate --help');
  // Everything is read and validated before anything is judged or written.
  const [baseline, current, policy, history] = await Promise.all([
    readRun(values.baseline),
    readRun(values.current),
    loadPolicy(values.policy),
    Promise.all((values.history ?? []).map((h) => readRun(h))),
  ]);
  await assertUsable(values.baseline, baseline, "; a baseline must be a run 'baseline accept' takes");
  // The summary file is opened before anything is judged: a path that cannot be written stops here, before a verdict is printed.
  const summary = values.summary ? await openSummary(values.summary) : undefined;
  try {
    const result = runGate(baseline, current, policy, { history });
    console.log(renderGate(result, policy));
    if (summary)
      await summary.appendFile(renderGateMarkdown(result, policy, baseline, current)).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`--summary ${values.summary}: writing the summary failed (${e.code ?? e.message}); the verdict above stands, the summary is incomplete`, { cause: e });
      });
    return result.passed ? 0 : 1;
  } finally {
    await summary?.close();
  }
}

/** The results.json a run argument names (a run directory or the file itself). */
async function resultsFile(path: string): Promise<string> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, 'results.json') : path;
}

/** A run that is to be (or is) a baseline: complete, not empty, each cell once. */
async function assertUsable(path: string, run: RunResults, role = ''): Promise<void> {
  const d = runDefects(run)[0];
  if (d) throw new ConfigError(await resultsFile(path), d.path, `${d.expected}${role}`);
}

async function openSummary(path: string): Promise<FileHandle> {
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw new UsageError(`--summary ${path}: cannot write the summary there (it is a directory); nothing was judged`);
  try {
    return await open(path, 'a');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(`--summary ${path}: cannot write the summary there (${err.code === 'ENOENT' ? 'its directory does not exist' : (err.code ?? err.message)}); nothing was judged`, { cause: e });
  }
}

export async function baselineCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { to: { type: 'string', default: 'criu-compat-baseline.json' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    console.log(BASELINE_HELP);
    return 0;
  }
  const [sub, run] = positionals;
  if (sub !== 'accept' || !run) throw new UsageError('usage: criu-compat baseline accept RUN [--to FILE]');
  const results = await readRun(run);
  await assertUsable(run, results);
  await writeFileAtomic(resolve(values.to), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`baseline ${resolve(values.to)} ← run ${results.runId} (${results.summary.PASS} pass, ${results.summary.FAIL} fail, ${results.summary.ERROR} error, ${results.summary.SKIP} skip)`);
  return 0;
}
