import { parseArgs } from 'node:util';
import type { LoadedConfig } from '../config/load.ts';
import { loadConfig } from '../config/load.ts';
import { SUITES } from '../config/schema.ts';
import { ConfigError, UsageError } from '../errors.ts';
import { PILOT_SUITE, pilotExitCode } from '../matrix/pilot-verdicts.ts';
import { RUN_FLAGS, abortOnSignals, finishRun, hygieneOf, runOptionsOf } from './run-flags.ts';

export const PILOT_HELP = `Usage: criu-compat pilot --config FILE [--pilot NAME]... [--pool NAME]... [--out DIR] [options]

Runs only the pilots of FILE (its pilots: section): the suite "pilot" on the
pools the pilots name, plus the pools they migrate to; judges each pilot on
each pool (GO, CONDITIONAL, NO-GO or UNDECIDED, from the measured numbers
against the pilot's criteria) and prints the verdict board. Writes
DIR/RUN-ID/results.json (with its pilots: verdicts) and the reports as run does.

Options:
  -c, --config FILE     the pools file with a pilots: section (required)
      --pilot NAME      only this pilot (repeatable)
  -p, --pool NAME       only the pilots' runs on this pool (repeatable; the
                        pools they migrate to from there come along)
  -o, --out DIR         where run directories go (default: reports)
      --cache-dir DIR   node images and compiled fixtures (as for run)
      --mirror URL      Debian mirror for debootstrap (default: the one in /etc/apt)
      --keep-artifacts  keep checkpoint images and CRIU logs (root-only)
  -j, --jobs N          pools run in parallel up to N (default: number of CPUs)
      --setup           first install what the selected pools need
      --accel MODE      VM accelerator: kvm, tcg or auto
      --no-progress     no live progress lines
      --json            print results.json to stdout instead of the board
  -h, --help            this help

Exit (the verdicts decide, not the cells): 0 every pilot GO or CONDITIONAL
(its conditions on the board); 1 some NO-GO; 2 some UNDECIDED, an ERROR cell,
or bad input (also a config without pilots); 130 interrupted. The verdicts are
on the board and in results.json; gate a run against a baseline to fail CI
when one gets worse.`;

/** The pilots a run covers and the pools it needs: each chosen pilot's pools (or those of --pool), plus where they migrate to. */
export function pilotSelection(loaded: LoadedConfig, names: readonly string[] = [], pools: readonly string[] = []): { pilots: string[]; pools: string[] } {
  const { config, file } = loaded;
  if (!config.pilots.length) throw new ConfigError(file, 'pilots', 'a pilots: section with at least one pilot (the service, its readiness probe, seed/verify and criteria; see the README, "Pilots"): this config has none');
  // The pools a pilot names (and migrates to) exist: the config's own checks saw to it (src/config/pilot-checks.ts).
  const unknown = names.filter((n) => !config.pilots.some((p) => p.name === n));
  if (unknown.length) throw new UsageError(`no pilot named ${unknown.join(', ')} in ${file}; pilots are: ${config.pilots.map((p) => p.name).join(', ')}`);
  const chosen = config.pilots.filter((p) => !names.length || names.includes(p.name));
  const theirs = new Set(chosen.flatMap((p) => p.pools));
  const outside = pools.filter((n) => !theirs.has(n));
  if (outside.length) throw new UsageError(`--pool ${outside.join(', ')}: no chosen pilot runs there; their pools are: ${[...theirs].join(', ')}`);
  const sources = new Set(pools.length ? pools : theirs);
  const need = new Set(sources);
  for (const p of chosen) if (p.stages.includes('migration') && p.pools.some((x) => sources.has(x))) for (const d of p.migrateTo) need.add(d);
  const running = chosen.filter((p) => p.pools.some((x) => sources.has(x)));
  // In the config's order, as every other selection.
  return { pilots: running.map((p) => p.name), pools: config.pools.map((p) => p.name).filter((n) => need.has(n)) };
}

export async function pilotCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, allowPositionals: false, options: { ...RUN_FLAGS, pilot: { type: 'string', multiple: true } } });
  if (values.help) {
    console.log(PILOT_HELP);
    return 0;
  }
  const run = runOptionsOf(values);
  const hygiene = await hygieneOf(values, ['pilot', ...args]);
  if (!values.config) throw new UsageError('pilot needs --config FILE: a pools file with a pilots: section (the embedded default has no pilots); see criu-compat pilot --help');
  const loaded = await loadConfig(values.config);
  const sel = pilotSelection(loaded, values.pilot, values.pool);
  if (!(SUITES as readonly string[]).includes(PILOT_SUITE)) throw new UsageError(`this build of criu-compat has no "${PILOT_SUITE}" suite (suites: ${SUITES.join(', ')})`);
  const abort = abortOnSignals();
  // Only the chosen pilots, and only their suite: the config's other suites and migrations are not this command's.
  loaded.config.pilots = loaded.config.pilots.filter((p) => sel.pilots.includes(p.name));
  loaded.config.settings.suites = [PILOT_SUITE as (typeof SUITES)[number]];
  loaded.config.migrations = [];
  const [{ runMatrix }, { renderPilotBoard, renderText }] = await Promise.all([import('../runner/run.ts'), import('../matrix/text.ts')]);
  const { results, runDir } = await runMatrix({ loaded, pools: sel.pools, ...run, hygiene, signal: abort.signal });
  // The board last, where the eye lands; the failures above it.
  const board = renderPilotBoard(results);
  const text = board.length ? `${renderText({ ...results, pilots: undefined })}\n\n${board.join('\n')}` : renderText(results);
  const code = finishRun(results, runDir, text, values.json, abort);
  // The verdicts decide what the command answers (an interrupted run stays 130).
  return code === 130 ? code : pilotExitCode(results);
}
