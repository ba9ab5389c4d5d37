#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { parseShard } from '../config/select.ts';
import { loadConfig } from '../config/load.ts';
import { onError } from './on-error.ts';
import { RUN_FLAGS, abortOnSignals, finishRun, hygieneOf, runOptionsOf } from './run-flags.ts';

/** Each command's module is loaded when it is used: a command pays only for its own imports (setup answers in well under a second). */
const COMMANDS: Record<string, () => Promise<{ command: (args: string[]) => Promise<number>; help: string }>> = {
  images: async () => ({ command: (await import('./images.ts')).imagesCommand, help: '' }),
  report: async () => import('./report.ts').then((m) => ({ command: m.reportCommand, help: m.REPORT_HELP })),
  merge: async () => import('./report.ts').then((m) => ({ command: m.mergeCommand, help: m.MERGE_HELP })),
  explain: async () => import('./explain.ts').then((m) => ({ command: m.explainCommand, help: m.EXPLAIN_HELP })),
  pilot: async () => import('./pilot.ts').then((m) => ({ command: m.pilotCommand, help: m.PILOT_HELP })),
  prune: async () => import('./artifacts.ts').then((m) => ({ command: m.pruneCommand, help: m.PRUNE_HELP })),
  artifacts: async () => import('./artifacts.ts').then((m) => ({ command: m.artifactsCommand, help: m.ARTIFACTS_HELP })),
  gate: async () => import('./gate.ts').then((m) => ({ command: m.gateCommand, help: m.GATE_HELP })),
  baseline: async () => import('./gate.ts').then((m) => ({ command: m.baselineCommand, help: m.BASELINE_HELP })),
  doctor: async () => import('./setup.ts').then((m) => ({ command: m.doctorCommand, help: m.DOCTOR_HELP })),
  setup: async () => import('./setup.ts').then((m) => ({ command: m.setupCommand, help: m.SETUP_HELP })),
};

const MAIN_HELP = `criu-compat — does checkpoint/restore really work on this node pool?

Usage: criu-compat <command> [options]

Commands:
  run       run the conformance suites over the node pools and write a report
  pilot     run the config's pilots (its own services) and print their GO / CONDITIONAL / NO-GO board
  prune     remove kept artifacts whose TTL ran out (or all of them)
  artifacts decrypt one cell's encrypted artifacts (artifacts decrypt RUN CELL --to DIR)
  doctor    check this machine for what the pools need (installs nothing)
  setup     install what the pools need and this machine lacks (apt-get)
  images    list, build or remove cached node images
  report    render runs into HTML, Markdown, JUnit (and print the results JSON Schema)
  merge     join the shards of a matrix (run --shard I/N) into one run
  explain   the whole story of one cell of a run (commands, timeline, figures, diagnoses, remedy)
  gate      compare a run with a baseline; exit 1 on a regression
  baseline  accept a run as the baseline
  help      show help for a command (criu-compat help run)

Run 'criu-compat <command> --help' for a command's options.
Exit codes: 0 every cell passed (or skipped), 1 a tuple failed, 2 bad input or a harness/environment error.`;

const RUN_HELP = `Usage: criu-compat run [--config FILE] [--pool NAME]... [--out DIR] [options]

Runs criu-check and round-trip suites on every pool of the config (the
embedded default when --config is not given) and writes DIR/RUN-ID/results.json.

Options:
  -c, --config FILE     node-pools file (YAML or JSON); default: embedded default
  -p, --pool NAME       run only this pool (repeatable)
  -o, --out DIR         where run directories go (default: reports)
      --cache-dir DIR   node images and compiled fixtures (default: $CRIU_COMPAT_CACHE,
                        else $XDG_CACHE_HOME/criu-compat, else ~/.cache/criu-compat)
      --mirror URL      Debian mirror for debootstrap (default: the one in /etc/apt)
      --keep-artifacts  keep checkpoint images and CRIU logs in RUN-ID/artifacts
      --artifacts-ttl D       how long kept artifacts stay (default 24h; 90s, 30m, 2h, 7d);
                              'criu-compat prune' and the next run remove them after
      --artifacts-quota SIZE  at most this much kept per run (default 2GiB); past it,
                              cells say "not kept: quota" (never a half set)
      --artifacts-key-file F  encrypt kept artifacts (AES-256-GCM) with this key, 64 hex
                              digits or base64 of 32 bytes, mode 0600 (or $CRIU_COMPAT_ARTIFACTS_KEY)
      --audit-log FILE  the persistent audit log (default $XDG_STATE_HOME/criu-compat/audit.jsonl,
                        else ~/.local/state/criu-compat/audit.jsonl); the run's own is RUN-ID/audit/
                        (root-only; they are memory dumps and may hold secrets)
  -r, --repeat N        run each round trip N times: success rate and p50/p95/max
                        of every figure per cell (default: settings.repeat, 1)
  -j, --jobs N          pools run in parallel up to N (default: number of CPUs);
                        VMs also only as many as fit in 75% of the memory
      --shard I/N       only pools I, I+N, I+2N… (1-based) of the config: one CI
                        matrix job per shard; join the results with 'merge'
      --setup           first install what the selected pools need and this
                        machine lacks (as 'criu-compat setup'); without it a
                        missing tool stops the run with the list (see doctor)
      --accel MODE      VM accelerator: kvm, tcg or auto (default: settings.accel,
                        auto: a short probe boot decides; KVM where it works)
      --no-progress     no live progress lines
      --json            print results.json to stdout instead of the text matrix
  -h, --help            this help

Exit: 0 all cells PASS or SKIP; 1 some cell FAIL; 2 bad input or an ERROR cell; 130 interrupted.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') {
    console.log(MAIN_HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === 'help') {
    const topic = rest[0];
    if (topic === 'run') console.log(RUN_HELP);
    else if (topic === 'images') return (await COMMANDS.images!()).command(['--help']);
    else if (topic && COMMANDS[topic]) console.log((await COMMANDS[topic]()).help);
    else console.log(MAIN_HELP);
    return 0;
  }
  if (cmd === 'run') return runCommand(rest);
  const load = COMMANDS[cmd];
  if (load) return (await load()).command(rest);
  throw new UsageError(`unknown command "${cmd}"; commands: run, pilot, doctor, setup, images, report, merge, explain, gate, baseline, prune, artifacts, help`);
}

async function runCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: { ...RUN_FLAGS, shard: { type: 'string' }, repeat: { type: 'string', short: 'r' } },
  });
  if (values.help) {
    console.log(RUN_HELP);
    return 0;
  }
  const run = runOptionsOf(values);
  const shard = parseShard(values.shard);
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat);
  if (repeat !== undefined && (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000)) throw new UsageError(`--repeat takes a whole number from 1 to 1000 (got "${values.repeat}")`);

  // Kept artifacts' TTL, quota and key are checked before any work: a bad key is exit 2 here, not after an hour of runs.
  const hygiene = await hygieneOf(values, ['run', ...args]);
  const abort = abortOnSignals();
  // The config and every file it names are checked before anything heavy loads: a bad one answers at once (exit 2).
  const loaded = await loadConfig(values.config);
  // Loaded on demand: vitest is heavy, and --help or a bad flag should answer at once.
  const [{ runMatrix }, { renderText }] = await Promise.all([import('../runner/run.ts'), import('../matrix/text.ts')]);
  const { results, runDir } = await runMatrix({
    loaded,
    ...(values.pool ? { pools: values.pool } : {}),
    ...run,
    hygiene,
    ...(repeat ? { repeat } : {}),
    ...(shard ? { shard } : {}),
    signal: abort.signal,
  });
  return finishRun(results, runDir, renderText(results), values.json, abort);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const { exit, text } = onError(e);
    console.error(text);
    process.exitCode = exit;
  },
);
