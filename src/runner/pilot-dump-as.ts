import type { Capability } from '../config/catalogue/index.ts';
import type { Criu } from '../criu/driver.ts';
import type { Environment } from '../environments/environment.ts';
import type { Status } from '../results/schema.ts';
import { capEffOf, missingCapability } from './capabilities.ts';

/** What checkpointing a service of another user than CRIU's needs (as the catalogue's caps-and-creds). */
export const OTHER_USER: Capability = { kind: 'privilege', name: 'CAP_SYS_RESOURCE', bit: 24, why: "CRIU reads the rlimits of a process of another user, which needs it" };

/** Who runs `criu dump` for a pilot's service (the pilot's criu.dumpAs). */
export type DumpAsSetting = 'auto' | 'root' | 'service-user';

/**
 * How the dump runs: as root (what a production node's root does), or as
 * the service's user with `--unprivileged` and root's capabilities as
 * ambient ones (the way round a root without CAP_SYS_RESOURCE, for a tree of
 * that one user). A restore always runs as root.
 */
export type DumpIdentity =
  | { as: 'root' }
  | { as: 'service-user'; user: string; uid: string; gid: string; caps: string[]; why: string };

/** A dump that cannot run here (a SKIP naming what is missing, or an ERROR when a probe decided nothing). */
export interface DumpRefusal {
  status: Status;
  reason: string;
}

interface Probe {
  env: Environment;
  criu: Criu;
  commandMs: number;
}

const helpKnown = new WeakMap<Criu, Promise<boolean | string>>();

/** Does this CRIU take --unprivileged (CRIU ≥ 3.18)? A string: the probe decided nothing. */
function criuHasUnprivileged(x: Probe): Promise<boolean | string> {
  let p = helpKnown.get(x.criu);
  if (!p) {
    p = x.criu.run(['--help'], { timeoutMs: x.commandMs }).then((r) => {
      const out = `${r.result.stdout}\n${r.result.stderr}`;
      if (/--unprivileged\b/.test(out)) return true;
      return r.result.exitCode === 0 && !r.result.timedOut ? false : `criu --help exited ${r.result.exitCode}${r.result.timedOut ? ' (timed out)' : ''}`;
    });
    helpKnown.set(x.criu, p);
  }
  return p;
}

/**
 * Before the service starts: who will dump a service of USER (not root)
 * under SETTING. root when asked for, or (auto) when root here holds
 * CAP_SYS_RESOURCE; else the service's user, when this CRIU takes
 * --unprivileged and the node has setpriv. Which capabilities root holds is
 * read, not assumed (CapEff, bit i = the i-th name of `setpriv --list-caps`).
 * The tree's users are checked later, once it runs (treeRefusal).
 */
export async function planDumpAs(setting: DumpAsSetting, user: string, ids: { uid: string; gid: string }, x: Probe): Promise<DumpIdentity | DumpRefusal> {
  const missing = setting === 'service-user' ? undefined : await missingCapability([OTHER_USER], x);
  if (!missing && setting !== 'service-user') return { as: 'root' };
  if (missing && (setting === 'root' || missing.status !== 'SKIP')) return { status: missing.status, reason: `${missing.reason} (the service runs as ${user}${setting === 'root' ? '; criu.dumpAs: root' : ''})` };
  const lacking = missing ? `${missing.reason} (the service runs as ${user})` : 'criu.dumpAs: service-user';
  const unpriv = await criuHasUnprivileged(x);
  if (typeof unpriv === 'string') return { status: 'ERROR', reason: `${lacking}; whether this CRIU can dump as ${user} with --unprivileged was not decided: ${unpriv}` };
  if (!unpriv) return { status: 'SKIP', reason: `${lacking}; and this CRIU has no --unprivileged (CRIU ≥ 3.18) to dump as ${user} instead` };
  const status = await x.env.exec(['cat', '/proc/self/status'], { timeoutMs: x.commandMs });
  const eff = capEffOf(status.stdout);
  const list = await x.env.exec(['setpriv', '--list-caps'], { timeoutMs: x.commandMs });
  if (list.exitCode === 127 || /not found/i.test(list.stderr)) return { status: 'SKIP', reason: `${lacking}; and the node image has no setpriv (util-linux) to dump as ${user} instead` };
  if (eff === undefined || status.exitCode !== 0 || list.exitCode !== 0) return { status: 'ERROR', reason: `${lacking}; reading root's capabilities (CapEff, setpriv --list-caps) failed: ${(status.stderr + list.stderr).trim() || `exit ${status.exitCode}/${list.exitCode}`}` };
  const caps = capNames(eff, list.stdout);
  const why = missing ? `root lacks CAP_SYS_RESOURCE on this node` : 'criu.dumpAs: service-user';
  return { as: 'service-user', user, uid: ids.uid, gid: ids.gid, caps, why };
}

/** The capability names of a CapEff set: bit i is the i-th line of `setpriv --list-caps` (bits it does not name are left out). */
export function capNames(eff: bigint, listCaps: string): string[] {
  const names = listCaps.split('\n').map((l) => l.trim()).filter(Boolean);
  return names.filter((_, i) => (eff >> BigInt(i)) & 1n);
}

/**
 * The users of the tree under ROOT, from `grep -H '^(Tgid|PPid|Uid|Gid):'
 * /proc/[0-9]*\/task/[0-9]*\/status` (every thread: its real, effective,
 * saved and filesystem ids). Returns each distinct "uid… gid…" found.
 */
export function treeIdentities(text: string, root: number): { pids: number[]; ids: string[] } {
  const tasks = new Map<string, { tgid?: number; ppid?: number; uid?: string; gid?: string }>();
  for (const line of text.split('\n')) {
    const m = /^\/proc\/(\d+)\/task\/(\d+)\/status:(Tgid|PPid|Uid|Gid):\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = `${m[1]}/${m[2]}`;
    const t = tasks.get(key) ?? {};
    const v = m[4]!.trim().split(/\s+/).join(' ');
    if (m[3] === 'Tgid') t.tgid = Number(v);
    else if (m[3] === 'PPid') t.ppid = Number(v);
    else if (m[3] === 'Uid') t.uid = v;
    else t.gid = v;
    tasks.set(key, t);
  }
  const parent = new Map<number, number>();
  for (const t of tasks.values()) if (t.tgid !== undefined && t.ppid !== undefined) parent.set(t.tgid, t.ppid);
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid, n = 0; p !== undefined && n < 4096; p = parent.get(p), n++) if (p === root) return true;
    return false;
  };
  const pids = [...parent.keys()].filter(inTree).sort((a, b) => a - b);
  const ids = new Set<string>();
  for (const t of tasks.values()) if (t.tgid !== undefined && pids.includes(t.tgid)) ids.add(`uid ${t.uid ?? '?'} gid ${t.gid ?? '?'}`);
  return { pids, ids: [...ids] };
}

/**
 * Once the service runs: a tree of more than one user cannot be dumped by
 * one of them, nor by a root without CAP_SYS_RESOURCE (a SKIP naming it);
 * else undefined. D: who would dump it (a root dump: uid and gid 0, and why
 * it would not do).
 */
export async function treeRefusal(d: { user: string; uid: string; gid: string; why: string }, pid: number, x: Probe): Promise<DumpRefusal | undefined> {
  const r = await x.env.exec(['sh', '-c', "grep -H -E '^(Tgid|PPid|Uid|Gid):' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null; true"], { timeoutMs: x.commandMs });
  const { pids, ids } = treeIdentities(r.stdout, pid);
  if (!pids.includes(pid)) return { status: 'ERROR', reason: `reading the users of the service's tree (PID ${pid}) from /proc failed: ${r.stderr.trim() || 'the service is not in it'}` };
  const want = `uid ${Array(4).fill(d.uid).join(' ')} gid ${Array(4).fill(d.gid).join(' ')}`;
  const other = ids.filter((i) => i !== want);
  if (!other.length) return undefined;
  return { status: 'SKIP', reason: `capability missing: ${OTHER_USER.name} (${OTHER_USER.why}): ${d.why}, and the service's tree (${pids.length} process(es)) is not all ${d.user} (${want}): ${other.join('; ')}; a tree of several users can be dumped only by a root that holds it` };
}

/**
 * The command `criu` runs under to dump as the service's user: a root shell
 * enters the attempt's directory (its ancestors stay root's 0700: CRIU's
 * paths are then relative to it), setpriv drops to the user with root's
 * capabilities as inheritable and ambient ones, and execs criu.
 */
export function userDumpPrefix(d: Extract<DumpIdentity, { as: 'service-user' }>, dir: string): string[] {
  const caps = d.caps.map((c) => `+${c}`).join(',');
  return ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', dir, 'setpriv', `--reuid=${d.uid}`, `--regid=${d.gid}`, '--init-groups', ...(caps ? [`--inh-caps=${caps}`, `--ambient-caps=${caps}`] : []), '--'];
}

/**
 * Lends the attempt's directory to the user for the dump: the directory
 * root:GID 0710 (the user's group may enter it, nobody list it), the image
 * directories SUBDIRS the user's own, 0700. Checkpoint images are secrets:
 * nobody else can read them at any time.
 */
async function lendDirs(env: Environment, d: Extract<DumpIdentity, { as: 'service-user' }>, dir: string, subdirs: readonly string[], timeoutMs: number): Promise<string | undefined> {
  const r = await env.exec(['sh', '-c', 'set -e; d=$1; u=$2; g=$3; shift 3; chown "0:$g" "$d"; chmod 0710 "$d"; for s in "$@"; do chown -R "$u:$g" "$d/$s"; chmod 0700 "$d/$s"; done', 'sh', dir, d.uid, d.gid, ...subdirs], { timeoutMs });
  return r.exitCode === 0 && !r.timedOut ? undefined : `lending ${dir} to ${d.user} for the dump failed: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`;
}

/** Takes them back after the dump: everything root's again (files CRIU made are 0600), the directories 0700. */
async function takeBackDirs(env: Environment, dir: string, subdirs: readonly string[], timeoutMs: number): Promise<string | undefined> {
  const script = `set -e; d=$1; shift
for s in "$@"; do chown -R 0:0 "$d/$s"; chmod -R go-rwx "$d/$s"; chmod 0700 "$d/$s"; done
chown 0:0 "$d"; chmod 0700 "$d"
for s in "$@"; do left=$(find "$d/$s" ! -type l \\( ! -uid 0 -o ! -gid 0 -o -perm /077 \\) | head -3); [ -z "$left" ] || { echo "still not root's alone: $left" >&2; exit 1; }; done`;
  const r = await env.exec(['sh', '-c', script, 'sh', dir, ...subdirs], { timeoutMs });
  return r.exitCode === 0 && !r.timedOut ? undefined : `giving ${dir} back to root after the dump failed: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`;
}

/** Lending the attempt's directory to the service's user, or taking it back, failed: the harness cannot go on with this attempt (an ERROR). */
export class DumpDirsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DumpDirsError';
  }
}

/**
 * Runs a dump or pre-dump as D says: as root with absolute paths; or as the
 * service's user in the attempt's directory DIR lent to it (ARGS get paths
 * relative to DIR), with --unprivileged, the directory and SUBDIRS taken back
 * by root after it whatever happened. Throws DumpDirsError when lending or
 * taking back fails.
 */
export async function runDumpAs(d: DumpIdentity, x: { env: Environment; criu: Criu; dir: string; commandMs: number }, args: (at: (sub: string) => string) => string[], logFile: string, subdirs: readonly string[]): Promise<Awaited<ReturnType<Criu['run']>>> {
  if (d.as === 'root') return x.criu.run(args((sub) => `${x.dir}/${sub}`), { logFile });
  const lent = await lendDirs(x.env, d, x.dir, subdirs, x.commandMs);
  try {
    if (lent) throw new DumpDirsError(lent);
    return await x.criu.run([...args((sub) => sub), '--unprivileged'], { logFile, prefix: userDumpPrefix(d, x.dir) });
  } finally {
    // Images left the user's (or readable by others) must never pass as a result: this throw wins over the run.
    const back = await takeBackDirs(x.env, x.dir, subdirs, x.commandMs);
    if (back && !lent) throw new DumpDirsError(back);
  }
}
