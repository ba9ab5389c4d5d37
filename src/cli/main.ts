#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { UsageError } from '../errors.ts';
import { defaultCacheDir } from '../images/cache-dir.ts';
import { parseShard } from '../config/select.ts';
import { checkMirrorInputs } from '../config/mirror.ts';
import { loadConfig } from '../config/load.ts';
import { onError } from './on-error.ts';

/** Each command's module is loaded when it is used: a command pays only for its own imports (setup answers in well under a second). */
const COMMANDS: Record<string, () => Promise<{ command: (args: string[]) => Promise<number>; help: string }>> = {
  images: async () => ({ command: (await import('./images.ts')).imagesCommand, help: '' }),
  report: async () => import('./report.ts').then((m) => ({ command: m.reportCommand, help: m.REPORT_HELP })),
  merge: async () => import('./report.ts').then((m) => ({ command: m.mergeCommand, help: m.MERGE_HELP })),
  explain: async () => import('./explain.ts').then((m) => ({ command: m.explainCommand, help: m.EXPLAIN_HELP })),
  gate: async () => import('./gate.ts').then((m) => ({ command: m.gateCommand, help: m.GATE_HELP })),
  baseline: async () => import('./gate.ts').then((m) => ({ command: m.baselineCommand, help: m.BASELINE_HELP })),
  doctor: async () => import('./setup.ts').then((m) => ({ command: m.doctorCommand, help: m.DOCTOR_HELP })),
  setup: async () => import('./setup.ts').then((m) => ({ command: m.setupCommand, help: m.SETUP_HELP })),
};

const MAIN_HELP = `criu-compat — does checkpoint/restore really work on this node pool?

Usage: criu-compat <command> [options]

Commands:
  run       run the conformance suites over the node pools and write a report
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
  throw new UsageError(`unknown command "${cmd}"; commands: run, doctor, setup, images, report, merge, explain, gate, baseline, help`);
}

async function runCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      pool: { type: 'string', short: 'p', multiple: true },
      out: { type: 'string', short: 'o', default: 'reports' },
      'cache-dir': { type: 'string' },
      mirror: { type: 'string' },
      'keep-artifacts': { type: 'boolean', default: false },
      setup: { type: 'boolean', default: false },
      jobs: { type: 'string', short: 'j' },
      accel: { type: 'string' },
      shard: { type: 'string' },
      repeat: { type: 'string', short: 'r' },
      'no-progress': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(RUN_HELP);
    return 0;
  }
  const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs takes a whole number >= 1 (got "${values.jobs}")`);
  if (values.accel !== undefined && !['kvm', 'tcg', 'auto'].includes(values.accel)) throw new UsageError(`--accel takes kvm, tcg or auto (got "${values.accel}")`);
  const shard = parseShard(values.shard);
  checkMirrorInputs(values.mirror);
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat);
  if (repeat !== undefined && (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000)) throw new UsageError(`--repeat takes a whole number from 1 to 1000 (got "${values.repeat}")`);

  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\n${sig}: stopping; cleaning up environments (press Ctrl-C again to quit at once)\n`);
      abort.abort();
    } else process.exit(130); // environments die with us (PDEATHSIG); stale work dirs are swept next run
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The config and every file it names are checked before anything heavy loads: a bad one answers at once (exit 2).
  const loaded = await loadConfig(values.config);
  // Loaded on demand: vitest is heavy, and --help or a bad flag should answer at once.
  const [{ runMatrix }, { renderText }] = await Promise.all([import('../runner/run.ts'), import('../matrix/text.ts')]);
  const { results, runDir } = await runMatrix({
    loaded,
    ...(values.pool ? { pools: values.pool } : {}),
    outDir: values.out,
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    ...(values.mirror ? { mirror: values.mirror } : {}),
    keepArtifacts: values['keep-artifacts'],
    setup: values.setup,
    ...(repeat ? { repeat } : {}),
    jobs,
    ...(shard ? { shard } : {}),
    ...(values.accel ? { accel: values.accel as 'kvm' | 'tcg' | 'auto' } : {}),
    progress: !values['no-progress'] && !values.json,
    signal: abort.signal,
  });
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    console.log(`\n${renderText(results)}`);
    const rel = relative(process.cwd(), runDir);
    console.log(`\nresults: ${rel && !rel.startsWith('..') ? rel : runDir}/results.json`);
  }
  if (abort.signal.aborted) return 130;
  return results.exitCode;
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
