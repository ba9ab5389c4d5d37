import { join, resolve } from 'node:path';

/** Where images, kernels, guest roots and compiled fixtures are cached: $CRIU_COMPAT_CACHE, else $XDG_CACHE_HOME/criu-compat, else ~/.cache/criu-compat. */
export function defaultCacheDir(): string {
  if (process.env.CRIU_COMPAT_CACHE) return resolve(process.env.CRIU_COMPAT_CACHE);
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME || '/root', '.cache');
  return join(base, 'criu-compat');
}
