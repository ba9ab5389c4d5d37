import type { Environment } from '../environments/environment.ts';
import { decodeStats } from './images.ts';

/**
 * CRIU's own figures for a cell: stats-dump and stats-restore from the image
 * directory, when CRIU got far enough to write them. A file that is there but
 * cannot be decoded is reported, never guessed at.
 */
export async function readCriuStats(
  env: Environment,
  imageDir: string,
): Promise<{ criuDump?: Record<string, number>; criuRestore?: Record<string, number>; statsError?: string }> {
  const out: { criuDump?: Record<string, number>; criuRestore?: Record<string, number>; statsError?: string } = {};
  const errors: string[] = [];
  for (const [file, key] of [
    ['stats-dump', 'criuDump'],
    ['stats-restore', 'criuRestore'],
  ] as const) {
    let buf: Buffer;
    try {
      buf = await env.readFile(`${imageDir}/${file}`);
    } catch {
      continue; // not written: CRIU did not get that far
    }
    try {
      const s = decodeStats(buf, file);
      const part = key === 'criuDump' ? s.dump : s.restore;
      if (part) out[key] = { ...part };
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length) out.statsError = errors.join('; ');
  return out;
}
