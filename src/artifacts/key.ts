import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../errors.ts';

/** The environment variable that may hold the artifacts key (hex or base64 of 32 bytes). */
export const KEY_ENV = 'CRIU_COMPAT_ARTIFACTS_KEY';

/** A key that cannot be used: wrong length or encoding, a file others can read. The CLI exits 2 before any work. */
export class ArtifactKeyError extends UsageError {
  override name = 'ArtifactKeyError';
}

export interface ArtifactKey {
  /** 32 bytes (AES-256). */
  key: Buffer;
  /** What identifies the key without revealing it (a hash of it): recorded in the manifest, so that a wrong key is named before any file is tried. */
  id: string;
  /** Where it came from, for messages: "file /path" or "$CRIU_COMPAT_ARTIFACTS_KEY". */
  source: string;
}

/** Where the key is: a file (--artifacts-key-file), else the environment variable, else none (no encryption). */
export interface KeySource {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

const HOW = 'a key is 32 random bytes written as 64 hex digits or 44 base64 characters (make one with: openssl rand -hex 32 > KEYFILE; chmod 600 KEYFILE)';

/** Reads and checks the key; undefined when none is configured. */
export async function loadArtifactKey(src: KeySource): Promise<ArtifactKey | undefined> {
  if (src.file !== undefined) {
    const st = await stat(src.file).catch((e: NodeJS.ErrnoException) => {
      throw new ArtifactKeyError(`--artifacts-key-file ${src.file}: cannot read it (${e.code ?? e.message})`);
    });
    if (!st.isFile()) throw new ArtifactKeyError(`--artifacts-key-file ${src.file}: not a regular file`);
    if (st.mode & 0o077) throw new ArtifactKeyError(`--artifacts-key-file ${src.file}: mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} lets others read the key; chmod 600 it`);
    const me = process.getuid?.();
    if (me !== undefined && st.uid !== me) throw new ArtifactKeyError(`--artifacts-key-file ${src.file}: owned by uid ${st.uid}, not by the user running criu-compat (uid ${me}); chown it, that user can read and replace the key`);
    return withId(parseKey(await readFile(src.file, 'utf8'), `--artifacts-key-file ${src.file}`), `file ${src.file}`);
  }
  const v = (src.env ?? process.env)[KEY_ENV];
  if (v === undefined || v === '') return undefined;
  return withId(parseKey(v, `$${KEY_ENV}`), `$${KEY_ENV}`);
}

function withId(key: Buffer, source: string): ArtifactKey {
  return { key, id: keyId(key), source };
}

/** 64 hex digits or base64 of exactly 32 bytes (surrounding white space ignored). */
export function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length === 32) return b;
  }
  throw new ArtifactKeyError(`${where}: not a usable key (${t.length} characters); ${HOW}`);
}

/** A short, one-way name of the key. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('criu-compat artifacts key id\0').update(key).digest('hex').slice(0, 16);
}
