import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import { issueToError } from './issue-error.ts';
import { SignatureFile, type SignatureSpec } from './signature-schema.ts';
import { decodeSource, parseSource } from './source.ts';

/**
 * Signature files on disk: the built-in families (src/criu/signatures/*.yaml,
 * shipped with the package) and the operator's own (settings.signatures).
 * Every file is validated whole: a mistake is a ConfigError naming the file,
 * the path inside it and its line.
 */

/** Where the built-in signature families live (data of the criu layer, read here so that a config can be checked against them). */
export const BUILTIN_SIGNATURE_DIR = join(import.meta.dirname, '../criu/signatures');

/** A signature and where it was read from. */
export type LoadedSignature = SignatureSpec & { file: string; index: number };

const WHAT = 'a signature file: a YAML list of signatures';

/** Reads and validates one signature file; NAME is how messages call it. */
export function readSignatureFile(file: string, name = escapeControl(file)): LoadedSignature[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ConfigError(name, '', `${WHAT}, but it cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const src = parseSource(decodeSource(bytes, name), name, WHAT);
  const parsed = SignatureFile.safeParse(src.data);
  if (!parsed.success) throw issueToError(name, parsed.error.issues[0]!, undefined, src.lineOf);
  const seen = new Set<string>();
  return parsed.data.map((s, index) => {
    if (seen.has(s.id)) throw new ConfigError(name, `[${index}].id`, `a unique signature id ("${s.id}" is used twice in this file)`, src.lineOf([index, 'id']));
    seen.add(s.id);
    return { ...s, file: name, index };
  });
}

let builtin: LoadedSignature[] | undefined;

/** The built-in signatures, file by file in name order (read once). */
export function builtinSignatures(): LoadedSignature[] {
  if (builtin) return builtin;
  const files = readdirSync(BUILTIN_SIGNATURE_DIR).filter((f) => f.endsWith('.yaml')).sort();
  const all = files.flatMap((f) => readSignatureFile(join(BUILTIN_SIGNATURE_DIR, f), relative(join(import.meta.dirname, '../..'), join(BUILTIN_SIGNATURE_DIR, f))));
  const where = new Map<string, string>();
  for (const s of all) {
    const other = where.get(s.id);
    if (other) throw new ConfigError(s.file, `[${s.index}].id`, `a signature id no other built-in file uses ("${s.id}" is also in ${other})`);
    where.set(s.id, s.file);
  }
  builtin = all;
  return all;
}

/**
 * The operator's signature files (absolute paths, in config order), checked
 * against the built-in set and each other: an id that exists already is an
 * error unless the signature says `overrides: true` (and then it must name
 * a built-in one). CONFIG_FILE names where the list was given.
 */
export function loadOperatorSignatures(files: readonly string[], configFile: string, lineOf?: (path: readonly PropertyKey[]) => number | undefined): LoadedSignature[] {
  if (!files.length) return [];
  const builtinIds = new Set(builtinSignatures().map((s) => s.id));
  const where = new Map<string, string>();
  const out: LoadedSignature[] = [];
  files.forEach((file, i) => {
    let sigs: LoadedSignature[];
    try {
      sigs = readSignatureFile(file);
    } catch (e) {
      if (e instanceof ConfigError && e.path === '') throw new ConfigError(configFile, `settings.signatures[${i}]`, `${e.expected} (${escapeControl(file)})`, lineOf?.(['settings', 'signatures', i]), { cause: e });
      throw e;
    }
    for (const s of sigs) {
      const at = `[${s.index}].id`;
      if (builtinIds.has(s.id) && !s.overrides)
        throw new ConfigError(s.file, at, `an id no built-in signature has ("${s.id}" is built in); set "overrides: true" to replace the built-in one, or choose another id`);
      if (!builtinIds.has(s.id) && s.overrides) throw new ConfigError(s.file, `[${s.index}].overrides`, `"overrides: true" only on a signature whose id is built in ("${s.id}" is not)`);
      const other = where.get(s.id);
      if (other) throw new ConfigError(s.file, at, `a signature id no other operator file uses ("${s.id}" is also in ${other})`);
      where.set(s.id, s.file);
      out.push(s);
    }
  });
  return out;
}
