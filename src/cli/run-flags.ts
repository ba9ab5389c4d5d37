import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { checkMirrorInputs } from '../config/mirror.ts';
import { UsageError } from '../errors.ts';
import { defaultCacheDir } from '../images/cache-dir.ts';
import type { RunResults } from '../results/schema.ts';

/** The flags `run` and `pilot` share (parseArgs options). */
export const RUN_FLAGS = {
  config: { type: 'string', short: 'c' },
  pool: { type: 'string', short: 'p', multiple: true },
  out: { type: 'string', short: 'o', default: 'reports' },
  'cache-dir': { type: 'string' },
  mirror: { type: 'string' },
  'keep-artifacts': { type: 'boolean', default: false },
  setup: { type: 'boolean', default: false },
  jobs: { type: 'string', short: 'j' },
  accel: { type: 'string' },
  'no-progress': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

interface RunFlagValues {
  out: string;
  'cache-dir'?: string | undefined;
  mirror?: string | undefined;
  'keep-artifacts': boolean;
  setup: boolean;
  jobs?: string | undefined;
  accel?: string | undefined;
  'no-progress': boolean;
  json: boolean;
}

/** The shared flags checked (a bad one is a UsageError, exit 2, before anything loads) and turned into runMatrix's options. */
export function runOptionsOf(values: RunFlagValues) {
  const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs takes a whole number >= 1 (got "${values.jobs}")`);
  if (values.accel !== undefined && !['kvm', 'tcg', 'auto'].includes(values.accel)) throw new UsageError(`--accel takes kvm, tcg or auto (got "${values.accel}")`);
  checkMirrorInputs(values.mirror);
  return {
    outDir: values.out,
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    ...(values.mirror ? { mirror: values.mirror } : {}),
    keepArtifacts: values['keep-artifacts'],
    setup: values.setup,
    jobs,
    ...(values.accel ? { accel: values.accel as 'kvm' | 'tcg' | 'auto' } : {}),
    progress: !values['no-progress'] && !values.json,
  };
}

/** The first SIGINT/SIGTERM aborts the run (environments are cleaned up, what ran is written); the second quits at once. */
export function abortOnSignals(): AbortController {
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
  return abort;
}

/** The end of a run on the terminal: results.json on stdout (--json), else the text and where results.json is; the exit status. */
export function finishRun(results: RunResults, runDir: string, text: string, json: boolean, abort: AbortController): number {
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    console.log(`\n${text}`);
    const rel = relative(process.cwd(), runDir);
    console.log(`\nresults: ${rel && !rel.startsWith('..') ? rel : runDir}/results.json`);
  }
  if (abort.signal.aborted) return 130;
  return results.exitCode;
}
