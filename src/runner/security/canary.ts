import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/**
 * The secret-in-image cell's canary: a random seed made per run by the harness
 * (in the suite worker's memory, never written anywhere), and one token per
 * place the workload keeps a secret, derived from it (HMAC-SHA256), so a token
 * found in an image names the place it came from. CRIU_COMPAT_CANARY_FILE
 * (a root-only file of at least 16 bytes) gives the seed instead, so that a
 * test can know the tokens and look for them in every output of a run.
 */
export const CANARY_LOCATIONS = ['environ', 'heap', 'filePrivate', 'fileShared', 'deletedFile'] as const;
export type CanaryLocation = (typeof CANARY_LOCATIONS)[number];

/** Where the fixture receives each token: the environment, or line N of its tokens file. */
export const TOKEN_FILE_ORDER: readonly CanaryLocation[] = ['heap', 'filePrivate', 'fileShared', 'deletedFile'];

export class CanarySeedError extends Error {
  override name = 'CanarySeedError';
}

export type Canary = Readonly<Record<CanaryLocation, string>>;

/** The tokens of a seed: 'cc' and 40 hex digits each (printable, greppable, no newline). */
export function canaryTokens(seed: Buffer): Canary {
  if (seed.length < 16) throw new CanarySeedError(`a canary seed needs at least 16 bytes, got ${seed.length}`);
  return Object.fromEntries(CANARY_LOCATIONS.map((l) => [l, `cc${createHmac('sha256', seed).update(`criu-compat canary ${l}`).digest('hex').slice(0, 40)}`])) as Canary;
}

/** This run's seed: random, or the file CRIU_COMPAT_CANARY_FILE names (checked root-only). */
export function canarySeed(env: NodeJS.ProcessEnv = process.env): Buffer {
  const file = env.CRIU_COMPAT_CANARY_FILE;
  if (!file) return randomBytes(32);
  const st = statSync(file);
  if (st.mode & 0o077) throw new CanarySeedError(`CRIU_COMPAT_CANARY_FILE ${file} has mode ${(st.mode & 0o777).toString(8)}: a canary seed must be readable by its owner only (chmod 600)`);
  const me = process.getuid?.();
  if (me !== undefined && st.uid !== me) throw new CanarySeedError(`CRIU_COMPAT_CANARY_FILE ${file} is owned by uid ${st.uid}, not by the user running criu-compat (uid ${me}): chown it (its owner knows the tokens)`);
  return readFileSync(file);
}

/** Every token found in BUF, by location. */
export function tokensIn(buf: Buffer, canary: Canary): CanaryLocation[] {
  return CANARY_LOCATIONS.filter((l) => buf.includes(canary[l], 0, 'latin1'));
}
