import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import type { HygieneOptions } from '../runner/artifacts-run.ts';
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
  'artifacts-ttl': { type: 'string' },
  'artifacts-quota': { type: 'string' },
  'artifacts-key-file': { type: 'string' },
  'audit-log': { type: 'string' },
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

/** --artifacts-* and --audit-log, checked (and the key read) before anything else; command: what the audit log records as run. */
export async function hygieneOf(values: { 'keep-artifacts': boolean; 'artifacts-ttl'?: string | undefined; 'artifacts-quota'?: string | undefined; 'artifacts-key-file'?: string | undefined; 'audit-log'?: string | undefined }, command: string[]): Promise<HygieneOptions> {
  const { parseDuration, parseSize } = await import('../artifacts/units.ts');
  const { loadArtifactKey } = await import('../artifacts/key.ts');
  const given = (['artifacts-ttl', 'artifacts-quota', 'artifacts-key-file'] as const).filter((f) => values[f] !== undefined);
  if (given.length && !values['keep-artifacts']) throw new UsageError(`--${given[0]} applies to kept artifacts: add --keep-artifacts`);
  const ttlMs = values['artifacts-ttl'] === undefined ? undefined : parseDuration(values['artifacts-ttl'], '--artifacts-ttl');
  const quotaBytes = values['artifacts-quota'] === undefined ? undefined : parseSize(values['artifacts-quota'], '--artifacts-quota');
  const key = values['keep-artifacts'] ? await loadArtifactKey({ file: values['artifacts-key-file'] }) : undefined;
  const { checkAuditLog, defaultAuditLog } = await import('../artifacts/audit.ts');
  await checkAuditLog(values['audit-log'] ? resolve(values['audit-log']) : defaultAuditLog());
  return {
    artifacts: { ...(ttlMs ? { ttlMs } : {}), ...(quotaBytes ? { quotaBytes } : {}), ...(key ? { key } : {}), ...(values['artifacts-key-file'] ? { keyFile: resolve(values['artifacts-key-file']) } : {}) },
    ...(values['audit-log'] ? { auditLog: resolve(values['audit-log']) } : {}),
    command,
  };
}
