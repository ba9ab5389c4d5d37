import { ConfigError } from '../errors.ts';
import { contentHash } from '../util/hash.ts';
import { parseSource } from './source.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from './default.ts';
import type { Config, ImageSpec } from './schema.ts';

type LineOf = (path: readonly PropertyKey[]) => number | undefined;

/**
 * A file with pilots: and no pools: runs its pilots on the embedded
 * default's pools (only those: not its migrations). Works on the raw data,
 * before the schema: a file with neither still gets "at least one pool".
 */
export function withDefaultPools(data: unknown): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return data;
  const d = data as Record<string, unknown>;
  if ('pools' in d || !Array.isArray(d['pilots']) || d['pilots'].length === 0) return data;
  const def = parseSource(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME, 'the embedded default').data as { pools: unknown[] };
  return { ...d, pools: def.pools };
}

/** CRIU options the engine sets itself (per stage): a pilot may not pass them. */
const HARNESS_OPTIONS = ['--leave-running', '--images-dir', '--work-dir', '--log-file', '--pidfile', '--tree', '--track-mem', '--prev-images-dir', '--restore-detached', '--page-server', '--lazy-pages', '--address', '--port', '--verbosity'];

/**
 * The checks of pilots: that the schema cannot make on its own: names
 * unique, the pools they name exist, packages only where the image is
 * built by debootstrap (on its migrateTo pools too). A container service's
 * archive or rootfs is checked with the config's other files (file-checks.ts);
 * its runtime, known only once the node is up, by the stage (a SKIP naming it).
 * Then each pool a pilot names gets the pilots' packages added to its node
 * image (a derived image: cached by its recipe like any other), and the
 * pilot suite joins settings.suites.
 */
export function checkPilots(config: Config, images: Record<string, ImageSpec>, file: string, lineOf: LineOf, suitesGiven: boolean): void {
  const pools = new Set(config.pools.map((p) => p.name));
  const names = new Set<string>();
  const err = (path: (string | number)[], expected: string) => new ConfigError(file, path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join(''), expected, lineOf(path));
  config.pilots.forEach((pilot, i) => {
    if (names.has(pilot.name)) throw err(['pilots', i, 'name'], `a unique pilot name ("${pilot.name}" is used twice)`);
    names.add(pilot.name);
    for (const key of ['pools', 'migrateTo'] as const)
      pilot[key].forEach((p, j) => {
        if (!pools.has(p)) throw err(['pilots', i, key, j], `a pool of this config${config.pools.length ? `, one of: ${[...pools].join(', ')}` : ''} (got "${p}")`);
      });
    const k = pilot.stages.indexOf('migration');
    if (k >= 0 && !pilot.migrateTo.length)
      throw err(['pilots', i, 'migrateTo'], 'at least one pool to migrate to, other than the pilot\'s own pool (the stage "migration" dumps on each of pools and restores on each of migrateTo)');
    if (k < 0 && pilot.migrateTo.length) throw err(['pilots', i, 'migrateTo'], 'no migrateTo without the stage "migration" in stages');
    const stuck = k >= 0 ? pilot.pools.find((p) => pilot.migrateTo.every((d) => d === p)) : undefined;
    if (stuck !== undefined) throw err(['pilots', i, 'migrateTo'], `a pool other than "${stuck}" to migrate to from pool "${stuck}" (a pool does not migrate to itself; its migration would have no destination and its verdict would stay UNDECIDED)`);
    // A criterion nothing measures would leave the verdict UNDECIDED on every run (or, unjudged, say nothing): refused here instead.
    if (pilot.criteria.clientGapMsMax !== undefined && !pilot.client)
      throw err(['pilots', i, 'criteria', 'clientGapMsMax'], 'a client: section to measure the gap (tcp, http, held or session), or no clientGapMsMax');
    if (pilot.criteria.restoreMsMax !== undefined && pilot.stages.every((s) => s === 'leave-running'))
      throw err(['pilots', i, 'criteria', 'restoreMsMax'], 'a stage that restores (checkpoint-restore or migration) to measure the restore, or no restoreMsMax (leave-running does not restore)');
    pilot.criu.options.forEach((o, j) => {
      const flag = o.replace(/=.*$/, '');
      if (HARNESS_OPTIONS.includes(flag)) throw err(['pilots', i, 'criu', 'options', j], `an option the service needs; ${flag} is set by the pilot's stages themselves`);
    });
    if (pilot.packages.length)
      [...new Set([...pilot.pools, ...pilot.migrateTo])].forEach((p) => {
        const pool = config.pools.find((x) => x.name === p)!;
        const image = images[pool.image];
        if (!image || !('debootstrap' in image))
          throw err(['pilots', i, 'packages'], `no packages for a pilot on pool "${p}": its image "${pool.image}" is not built by debootstrap (add the packages to that image yourself, or name a pool with a debootstrap image)`);
      });
  });
  if (config.settings.suites.includes('pilot') && !config.pilots.length) throw err(['settings', 'suites'], 'no suite "pilot" without a pilots: section (it runs the pilots)');
  if (config.pilots.length && !config.settings.suites.includes('pilot')) {
    if (suitesGiven) throw err(['settings', 'suites'], 'the suite "pilot" in the list, or no pilots: section (pilots run in that suite)');
    config.settings.suites.push('pilot');
  }
  derivePilotImages(config, images);
}

/** Each pool a pilot with packages names gets an image with them added to its debootstrap include (one per base image and package set). */
function derivePilotImages(config: Config, images: Record<string, ImageSpec>): void {
  for (const pool of config.pools) {
    // A destination gets the packages too: the service restores there from the same executable and libraries.
    const extra = [...new Set(config.pilots.filter((p) => p.pools.includes(pool.name) || p.migrateTo.includes(pool.name)).flatMap((p) => p.packages))].sort();
    const base = images[pool.image];
    if (!extra.length || !base || !('debootstrap' in base)) continue;
    const added = extra.filter((x) => !base.debootstrap.include.includes(x));
    if (!added.length) continue;
    const plain = `${pool.image}+${added.join('+')}`;
    const name = plain.length <= 63 ? plain : `${pool.image}+pilots-${contentHash(added).slice(0, 8)}`;
    images[name] ??= {
      debootstrap: { ...base.debootstrap, include: [...base.debootstrap.include, ...added] },
      description: `${pool.image} with the pilots' packages: ${added.join(', ')}`,
    };
    pool.image = name;
  }
}
