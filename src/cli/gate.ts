import { appendFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { renderGate, runGate } from '../gate/gate.ts';
import { loadPolicy } from '../gate/policy.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { readRun } from '../report/write.ts';
import { writeFileAtomic } from '../util/fs.ts';

export const GATE_HELP = `Usage: criu-compat gate --baseline B --current C [--policy P] [--history RUN]... [--summary FILE]

Compares a run with a baseline (each a run directory or a results.json) and
fails on a regression: a cell that PASSed and now FAILs or ERRORs, a CRIU
capability lost, a metric beyond its threshold, a success rate below the
policy's minimum, a version rule broken, or an expired known issue.
Unstable cells (repetitions disagree, or flips across --history runs) are
listed apart; the policy decides whether they fail. Improvements and new cells
are reported, never failed.

Options:
  -b, --baseline B    the baseline run
  -c, --current C     the run to judge
  -p, --policy P      YAML/JSON policy (thresholds, unstable, knownIssues, rules)
      --history RUN   earlier runs, oldest first (repeatable), to tell flaky from broken
      --summary FILE  append a Markdown summary (regressions first), e.g. $GITHUB_STEP_SUMMARY
  -h, --help          this help

Exit: 0 no regression; 1 regression; 2 bad input (file, path, expectation named).`;

export const BASELINE_HELP = `Usage: criu-compat baseline accept RUN [--to FILE]

Validates RUN (a run directory or its results.json) and makes it the baseline:
copies its results.json to FILE (default: criu-compat-baseline.json), to be
committed and passed to 'criu-compat gate --baseline FILE'.`;

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
  const result = runGate(baseline, current, policy, { history });
  console.log(renderGate(result, policy));
  if (values.summary) {
    const regressions = result.regressions.map((f) => `**${f.pool}** › ${f.what}: ${f.before} → ${f.after} — ${f.detail}`);
    const md = `${renderMarkdown(current, { regressions })}\n**Gate: ${result.passed ? 'PASS' : 'FAIL'}** against baseline \`${baseline.runId}\` (${result.unstable.length} unstable, ${result.improvements.length} improved, ${result.newCells.length} new)\n`;
    await appendFile(values.summary, md);
  }
  return result.passed ? 0 : 1;
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
  await writeFileAtomic(resolve(values.to), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`baseline ${resolve(values.to)} ← run ${results.runId} (${results.summary.PASS} pass, ${results.summary.FAIL} fail, ${results.summary.ERROR} error, ${results.summary.SKIP} skip)`);
  return 0;
}
