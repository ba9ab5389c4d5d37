import { access, chmod, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { contentHash } from '../util/hash.ts';
import { withLock } from '../util/fs.ts';
import { run } from '../util/process.ts';

const CFLAGS = ['-O2', '-Wall', '-Wextra', '-static', '-pthread'];

/**
 * Compiles a static C program once per content (its sources, headers and
 * flags) into CACHE/native/NAME-HASH and returns the binary's path. Static,
 * so the same binary runs in any node image whatever its libc. SOURCES is
 * one .c file or several linked together.
 */
export async function buildStatic(name: string, sources: string | readonly string[], headers: readonly string[], cacheDir: string): Promise<string> {
  const files = typeof sources === 'string' ? [sources] : [...sources];
  if (files.length === 0) throw new BuildError(`cannot compile ${name}: no source file`);
  const texts = await Promise.all([...files, ...headers].map((f) => readFile(f, 'utf8')));
  const key = contentHash(CFLAGS, ...texts);
  const dir = join(cacheDir, 'native');
  const out = join(dir, `${name}-${key}`);
  if (await exists(out)) return out;
  await mkdir(dir, { recursive: true });
  return withLock(`${out}.lock`, 120_000, async () => {
    if (await exists(out)) return out;
    const tmp = `${out}.tmp-${process.pid}`;
    const r = await run(['cc', ...CFLAGS, '-o', tmp, ...files], { timeoutMs: 120_000 });
    if (r.exitCode !== 0)
      throw new BuildError(
        r.exitCode === 127
          ? `cannot compile ${name}: no C compiler (apt-get install gcc libc6-dev)`
          : `cannot compile ${files.join(' ')}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`,
      );
    await chmod(tmp, 0o755);
    await rename(tmp, out);
    return out;
  });
}

/** A program kept in a folder of its own: every .c file in DIR linked together, every .h file in the cache key. */
export async function buildStaticDir(name: string, dir: string, cacheDir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const pick = (ext: string) => names.filter((n) => n.endsWith(ext)).map((n) => join(dir, n));
  return buildStatic(name, pick('.c'), pick('.h'), cacheDir);
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
