import { readFile } from 'node:fs/promises';
import { PrerequisiteError } from '../errors.ts';
import { run } from '../util/process.ts';
import { findCommand, type CheckResult, type Requirement } from './requirements.ts';

/**
 * Installing what a selection lacks through the system's package manager
 * (apt on Debian and Ubuntu), all or nothing: the package lists are
 * refreshed and the whole set is tried with --simulate before anything is
 * unpacked, so a name the archive does not have stops the install before it
 * starts.
 */

export interface Shortfall {
  /** Missing and installable: package → the requirements it provides. */
  installable: Map<string, Requirement[]>;
  /** Missing and not something a package brings (root, a capability, disk space). */
  blocking: Requirement[];
}

export function shortfallOf(results: readonly CheckResult[]): Shortfall {
  const installable = new Map<string, Requirement[]>();
  const blocking: Requirement[] = [];
  for (const { requirement: r, present } of results) {
    if (present) continue;
    if (!r.packages.length) blocking.push(r);
    for (const p of r.packages) installable.set(p, [...(installable.get(p) ?? []), r]);
  }
  return { installable, blocking };
}

export const isComplete = (s: Shortfall) => s.installable.size === 0 && s.blocking.length === 0;

/** The one message `doctor` (and `run` without --setup) gives: everything missing, and the line that installs it. */
export function shortfallMessage(s: Shortfall, what: string): string {
  const items = [...s.blocking.map((r) => `${r.name} — ${r.fix ?? r.why}`), ...[...s.installable.values()].flat().map((r) => `${r.name} (${r.why})`)];
  const head = `missing on this machine for ${what}: ${[...new Set(items)].join(', ')}`;
  if (!s.installable.size) return head;
  return `${head}\n  install them with: apt-get install --no-install-recommends ${[...s.installable.keys()].join(' ')} (or let criu-compat do it: criu-compat setup; npm start and npm test run it)`;
}

interface OsRelease {
  id: string;
  like: string[];
  pretty: string;
}

async function osRelease(): Promise<OsRelease> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => readFile('/usr/lib/os-release', 'utf8').catch(() => ''));
  const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
  return { id: field('ID'), like: field('ID_LIKE').split(/\s+/).filter(Boolean), pretty: field('PRETTY_NAME') || field('ID') || 'an unknown system' };
}

const APT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8' };
/** Wait for another apt (unattended-upgrades, a parallel job) instead of failing on its lock. */
const APT_OPTS = ['-o', 'DPkg::Lock::Timeout=300', '-o', 'APT::Get::Assume-Yes=true', '-qq'];

/** The lines of apt's output that say what went wrong (E: …), else its last lines. */
function aptError(out: string): string {
  const errors = out.split('\n').filter((l) => /^(E|Err):/.test(l.trim()));
  return (errors.length ? errors : out.trim().split('\n').slice(-3)).map((l) => l.trim()).join(' | ');
}

/** What apt-get update warned about (an archive it could not reach), in a few words. */
function aptWarnings(out: string): string {
  return [...new Set(out.split('\n').filter((l) => /^(W|Err):/.test(l.trim()) && /fetch|resolve|connect/i.test(l)).map((l) => l.trim()))].slice(0, 2).join(' | ');
}

export interface InstallOptions {
  write: (line: string) => void;
  signal?: AbortSignal | undefined;
  /** Lists, simulation and install together (default 30 min: QEMU is ~100 MB). */
  timeoutMs?: number;
}

/**
 * Installs the packages of a shortfall. Throws PrerequisiteError (one line)
 * when it cannot: not root, no apt, a package the archive lacks, apt failing.
 */
export async function install(s: Shortfall, opts: InstallOptions): Promise<void> {
  if (s.blocking.length) throw new PrerequisiteError(shortfallMessage(s, 'the selected pools'));
  const packages = [...s.installable.keys()];
  if (!packages.length) return;
  const list = packages.join(' ');
  if (process.getuid?.() !== 0) throw new PrerequisiteError(`setup: installing ${list} needs root: run it with sudo, or install them yourself (apt-get install --no-install-recommends ${list})`);
  const os = await osRelease();
  const aptGet = await findCommand('apt-get');
  if (!aptGet || !(os.id === 'debian' || os.id === 'ubuntu' || os.like.includes('debian')))
    throw new PrerequisiteError(`setup: no apt-get on ${os.pretty}; criu-compat installs with apt (Debian, Ubuntu); install by hand what provides: ${[...s.installable.values()].flat().map((r) => r.name).join(', ')}`);
  const why = [...s.installable].map(([pkg, rs]) => `${pkg} (${rs.map((r) => r.why).join('; ')})`).join(', ');
  opts.write(`setup: installing ${why} with apt-get`);
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  let updateWarnings = '';
  const step = async (args: string[], what: string) => {
    const r = await run([aptGet, ...APT_OPTS, ...args], { timeoutMs: Math.max(1000, deadline - Date.now()), env: APT_ENV, signal: opts.signal });
    if (opts.signal?.aborted) throw new PrerequisiteError(`setup: interrupted while ${what}`);
    if (r.timedOut) throw new PrerequisiteError(`setup: apt-get timed out while ${what}`);
    // apt-get update exits 0 when an archive cannot be reached: keep what it said for the step that then fails.
    if (args[0] === 'update') updateWarnings = aptWarnings(r.stdout + r.stderr);
    if (r.exitCode !== 0)
      throw new PrerequisiteError(`setup: apt-get failed while ${what}: ${aptError(r.stdout + r.stderr)}${updateWarnings && args[0] !== 'update' ? ` (after apt-get update said: ${updateWarnings})` : ''}${what === 'installing' ? '' : '; nothing was installed'}`);
  };
  await step(['update'], 'refreshing the package lists');
  await step(['install', '--simulate', '--no-install-recommends', ...packages], `checking that the archive has ${list}`);
  await step(['install', '--no-install-recommends', ...packages], 'installing');
}
