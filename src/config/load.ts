import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { issueToError } from './issue-error.ts';
import { BUILTIN_IMAGES } from './builtin.ts';
import { Config, type ImageSpec } from './schema.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from './default.ts';

export interface LoadedConfig {
  file: string;
  config: Config;
  /** Every image a pool may name: built-ins overlaid with the file's own. */
  images: Record<string, ImageSpec>;
}

/** Loads and validates a pools file (YAML or JSON), or the embedded default. */
export async function loadConfig(file?: string): Promise<LoadedConfig> {
  if (!file) return parseConfig(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new ConfigError(file, pos ? `line ${pos.line}, column ${pos.col}` : '', `valid YAML or JSON (${err.message.split('\n')[0]})`);
  }
  const raw: unknown = doc.toJS();
  const parsed = Config.safeParse(raw ?? {});
  if (!parsed.success) throw issueToError(file, parsed.error.issues[0]!);
  const config = parsed.data;
  const images: Record<string, ImageSpec> = { ...BUILTIN_IMAGES, ...config.images };
  const seen = new Set<string>();
  config.pools.forEach((pool, i) => {
    if (seen.has(pool.name)) throw new ConfigError(file, `pools[${i}].name`, `a unique pool name ("${pool.name}" is used twice)`);
    seen.add(pool.name);
    if (!images[pool.image])
      throw new ConfigError(file, `pools[${i}].image`, `a known node image, one of: ${Object.keys(images).sort().join(', ')} (got "${pool.image}"); define your own under images:`);
  });
  return { file, config, images };
}

