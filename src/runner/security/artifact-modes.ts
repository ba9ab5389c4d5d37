import type { Environment } from '../../environments/environment.ts';
import { EnvironmentError } from '../../errors.ts';

/** One file or directory as `find -printf` saw it inside a node. */
export interface PathMode {
  /** Relative to the directory listed ('' is the directory itself). */
  path: string;
  type: 'f' | 'd' | 'l' | 'other';
  mode: number;
  uid: number;
  gid: number;
}

/** Modes and owners of DIR and everything under it, inside ENV (symbolic links not followed). */
export async function listModes(env: Environment, dir: string, timeoutMs: number): Promise<PathMode[]> {
  const r = await env.exec(['find', dir, '-printf', '%y %m %U %G %P\\n'], { timeoutMs });
  if (r.exitCode !== 0) throw new EnvironmentError(`environment ${env.id}: cannot list the modes under ${dir}: ${r.stderr.trim()}`);
  return parseModes(r.stdout);
}

export function parseModes(out: string): PathMode[] {
  const list: PathMode[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\S) ([0-7]+) (\d+) (\d+) ?(.*)$/.exec(line);
    if (!m) continue;
    const t = m[1]!;
    list.push({ path: m[5]!, type: t === 'f' || t === 'd' || t === 'l' ? t : 'other', mode: parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]) });
  }
  return list;
}

/**
 * What in LIST someone other than root can read: group or other bits on a
 * file or directory (links carry no mode of their own), or an owner that is
 * not root. Each as "PATH MODE uid:gid".
 */
export function exposed(list: readonly PathMode[]): string[] {
  return list
    .filter((p) => p.type !== 'l' && ((p.mode & 0o077) !== 0 || p.uid !== 0))
    .map((p) => `${p.path || '.'} ${p.mode.toString(8).padStart(4, '0')} ${p.uid}:${p.gid}`);
}
