import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import { issueToError } from './issue-error.ts';
import { BUILTIN_IMAGES } from './builtin.ts';
import { checkCpuModels } from './qemu-cpu-models.ts';
import { checkConfigFiles, resolveConfigPaths } from './file-checks.ts';
import { Config, type ImageSpec } from './schema.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from './default.ts';
import { loadOperatorSignatures } from './signature-files.ts';
import { decodeSource, parseSource } from './source.ts';
import { checkPilots, withDefaultPools } from './pilot-checks.ts';

export interface LoadedConfig {
  file: string;
  config: Config;
  /** Every image a pool may name: built-ins overlaid with the file's own. */
  images: Record<string, ImageSpec>;
}

const WHAT = 'a pools file (YAML or JSON) with at least "pools:"';

/**
 * Loads and validates a pools file (YAML, or strict JSON when it ends in
 * .json), or the embedded default. Every file the config names is checked
 * here too, so that a mistake costs no compile, build or boot.
 */
export async function loadConfig(file?: string): Promise<LoadedConfig> {
  if (!file) return parseConfig(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new ConfigError(escapeControl(file), '', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const { loaded, lineOf } = parse(decodeSource(bytes, escapeControl(file)), file);
  await checkConfigFiles(loaded.config, escapeControl(file), lineOf);
  await checkCpuModels(loaded.config, escapeControl(file), lineOf);
  return loaded;
}

/** Parses and validates config text (no file checks); relative paths in it are taken from FILE's directory. */
export function parseConfig(text: string, file: string): LoadedConfig {
  return parse(text, file).loaded;
}

function parse(text: string, file: string): { loaded: LoadedConfig; lineOf: (path: readonly PropertyKey[]) => number | undefined } {
  const name = escapeControl(file);
  const src = parseSource(text, name, WHAT);
  const parsed = Config.safeParse(withDefaultPools(src.data));
  if (!parsed.success) throw issueToError(name, parsed.error.issues[0]!, undefined, src.lineOf);
  const config = parsed.data;
  resolveConfigPaths(config, dirname(resolve(file)));
  const images: Record<string, ImageSpec> = { ...BUILTIN_IMAGES, ...config.images };
  const seen = new Set<string>();
  config.pools.forEach((pool, i) => {
    if (seen.has(pool.name)) throw new ConfigError(name, `pools[${i}].name`, `a unique pool name ("${pool.name}" is used twice)`, src.lineOf(['pools', i, 'name']));
    seen.add(pool.name);
    if (!images[pool.image])
      throw new ConfigError(name, `pools[${i}].image`, `a known node image, one of: ${Object.keys(images).sort().join(', ')} (got "${pool.image}"); define your own under images:`, src.lineOf(['pools', i, 'image']));
  });
  const groups = new Set<string>();
  config.migrations.forEach((g, i) => {
    if (groups.has(g.name)) throw new ConfigError(name, `migrations[${i}].name`, `a unique migration group name ("${g.name}" is used twice)`, src.lineOf(['migrations', i, 'name']));
    groups.add(g.name);
    for (const key of ['pools', 'from', 'to'] as const)
      g[key]?.forEach((p, j) => {
        if (!seen.has(p)) throw new ConfigError(name, `migrations[${i}].${key}[${j}]`, `a pool defined under pools:, one of: ${[...seen].join(', ')} (got "${p}")`, src.lineOf(['migrations', i, key, j]));
      });
  });
  if (config.migrations.length && !config.settings.suites.includes('migration'))
    throw new ConfigError(name, 'settings.suites', 'the suite "migration" in the list, or no migrations: section (migrations run in that suite)', src.lineOf(['settings', 'suites']));
  loadOperatorSignatures(config.settings.signatures, name, src.lineOf); // validated now; the criu layer loads them again where it diagnoses
  const suitesGiven = Boolean((src.data as { settings?: { suites?: unknown } } | null)?.settings?.suites);
  checkPilots(config, images, name, src.lineOf, suitesGiven);
  return { loaded: { file, config, images }, lineOf: src.lineOf };
}
