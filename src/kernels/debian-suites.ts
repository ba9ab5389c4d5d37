import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/process.ts';

/** A suite as its Release file names it: "Suite: testing", "Codename: forky". */
export interface SuiteName {
  suite: string;
  codename: string;
}

/** The Suite and Codename fields of a Release (or InRelease) file. */
export function parseRelease(text: string): SuiteName | undefined {
  const field = (f: string) => new RegExp(`^${f}: *(\\S+)`, 'm').exec(text)?.[1] ?? '';
  const suite = field('Suite');
  const codename = field('Codename');
  return suite || codename ? { suite, codename } : undefined;
}

/**
 * Debian's release-independent names for its suites. The archive keeps
 * them pointing at the current codenames, so reading their Release files
 * tells which suites a mirror serves today without a list of codenames.
 */
export const DEBIAN_SUITE_ALIASES = ['oldoldstable', 'oldstable', 'stable', 'testing', 'unstable', 'oldstable-backports', 'stable-backports', 'experimental'] as const;

/** "codename (suite)" for each alias the mirror answers, e.g. "forky (testing)"; empty when it cannot tell. */
export async function servedSuites(mirror: string, scratch: string, timeoutMs: number): Promise<string[]> {
  // apt's own downloader: it honours the machine's apt proxy settings and file:// mirrors alike.
  const argv = ['/usr/lib/apt/apt-helper', '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root', 'download-file'];
  for (const a of DEBIAN_SUITE_ALIASES) argv.push(`${mirror}/dists/${a}/Release`, join(scratch, `${a}.Release`));
  // Some aliases may be missing (it fails then): what did arrive still counts.
  await run(argv, { timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
  const out: string[] = [];
  for (const a of DEBIAN_SUITE_ALIASES) {
    const r = parseRelease(await readFile(join(scratch, `${a}.Release`), 'utf8').catch(() => ''));
    if (r) out.push(r.codename && r.codename !== r.suite ? `${r.codename} (${r.suite})` : r.suite || r.codename);
  }
  return out;
}
