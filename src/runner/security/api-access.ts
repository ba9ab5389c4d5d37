import type { Settings } from '../../config/schema.ts';
import type { Environment } from '../../environments/environment.ts';
import { podmanCommand } from '../../environments/podman-command.ts';
import { EnvironmentError } from '../../errors.ts';
import type { RuntimeInfo } from '../../runtimes/detect.ts';
import { poll } from '../../util/wait-until.ts';
import type { CellDraft } from '../cell.ts';
import { LOOSE_UMASK } from './archive-at-rest.ts';
import { UmaskEnvironment } from './umask-environment.ts';

/** Runtime API sockets: whoever can connect can checkpoint any container (and read its memory). */
export const API_SOCKETS = ['/run/containerd/containerd.sock', '/run/podman/podman.sock', '/run/crio/crio.sock', '/run/docker.sock', '/var/run/docker.sock'];
/** Where checkpoints of the node's runtimes land. */
export const CHECKPOINT_DIRS = ['/var/lib/kubelet/checkpoints', '/var/lib/containers/storage', '/var/lib/containerd', '/run/containerd'];

const REMEDY = 'remedy: runtime API sockets 0660 root:root (or 0600), no users in a group that owns one; checkpoint directories 0700 root:root; only root (the kubelet) may call the checkpoint API';

export interface ApiAccessContext {
  env: Environment;
  /** Runtimes of the node image (the inventory's), to start their API service the way an operator would. */
  runtimes: readonly RuntimeInfo[];
  dir: string;
  timeouts: Settings['timeouts'];
}

interface Seen {
  kind: 'S' | 'F';
  type: string;
  mode: number;
  uid: number;
  gid: number;
  path: string;
}

/**
 * checkpoint-api-access: who on this node can trigger a checkpoint or read
 * one. The runtimes' API services the node image has (podman's, containerd's)
 * are started as a node would run them (umask 022, their default socket
 * paths), and every known runtime socket and checkpoint directory is looked
 * at with its parents. Anything a non-root user reaches (a socket writable by
 * others or a non-root group; a directory or file readable so, behind
 * directories they may search) is FAIL with the remedy. A group other than
 * root counts as reachable: any user may be put in it. Nothing present is a
 * SKIP naming what was looked for.
 */
export async function checkpointApiAccess(x: ApiAccessContext): Promise<CellDraft> {
  const t0 = performance.now();
  await x.env.makeDir(x.dir);
  const started: { name: string; pid: number; socket: string }[] = [];
  const notes: string[] = [];
  const failed: string[] = [];
  try {
    for (const s of services(x)) {
      const has = await x.env.exec(['sh', '-c', `command -v ${s.binary}`], { timeoutMs: x.timeouts.commandMs });
      if (has.exitCode !== 0) continue;
      const loose = new UmaskEnvironment(x.env, LOOSE_UMASK);
      // Its socket's directory is made first, as a service unit's RuntimeDirectory= would.
      const pid = await loose.spawnDetached(['sh', '-c', 'mkdir -p "$1" && shift && exec "$@"', 'service', s.socket.replace(/\/[^/]*$/, ''), ...s.argv], { outFile: `${x.dir}/${s.name}.out` });
      started.push({ name: s.name, pid, socket: s.socket });
      const up = await poll(async () => ((await x.env.exec(['test', '-S', s.socket], { timeoutMs: x.timeouts.commandMs })).exitCode === 0 ? true : undefined), { intervalMs: 200, timeoutMs: 20_000 });
      const said = up ? '' : (await x.env.readFile(`${x.dir}/${s.name}.out`).catch(() => Buffer.alloc(0))).toString('utf8').trim().split('\n').slice(-2).join(' | ');
      if (up) notes.push(`${s.name} API service started (umask ${LOOSE_UMASK})`);
      else failed.push(`${s.name} API service made no socket within 20 s${said ? `: ${said}` : ''}`);
    }
    const script = 'for p in "$@"; do [ -e "$p" ] || continue; d=$p; while :; do stat -c "S|%F|%a|%u|%g|%n" "$d"; [ "$d" = / ] && break; d=$(dirname "$d"); done; [ -d "$p" ] && find "$p" -mindepth 1 -maxdepth 2 -printf "F|%y|%m|%U|%G|%p\\n" | head -n 200; done; true';
    const r = await x.env.exec(['sh', '-c', script, 'api-access', ...API_SOCKETS, ...CHECKPOINT_DIRS], { timeoutMs: x.timeouts.commandMs });
    if (r.exitCode !== 0) throw new EnvironmentError(`environment ${x.env.id}: cannot look at the runtime sockets: ${r.stderr.trim()}`);
    const seen = parseSeen(r.stdout);
    const present = [...API_SOCKETS, ...CHECKPOINT_DIRS].filter((p) => seen.some((s) => s.kind === 'S' && s.path === p));
    const security = { looked: API_SOCKETS.length + CHECKPOINT_DIRS.length, present: present.length, servicesStarted: started.length };
    const durations = { totalMs: performance.now() - t0 };
    const reachable = reachableByNonRoot(seen, present);
    const described = present.map((p) => `${p} ${describe(seen.find((s) => s.kind === 'S' && s.path === p)!)}`);
    return { durations, metrics: { security: { ...security, reachable: reachable.length } }, workloadOutput: [...notes, ...failed], ...apiAccessVerdict({ present, reachable, described, failed }) };
  } finally {
    for (const s of started) await x.env.exec(['sh', '-c', `kill -KILL -- -${s.pid} 2>/dev/null; rm -rf ${s.socket.replace(/\/[^/]*$/, "")}`], { timeoutMs: x.timeouts.commandMs }).catch(() => undefined);
    await x.env.remove(x.dir).catch(() => undefined);
  }
}

/**
 * The verdict from what was seen: anything a non-root user reaches is FAIL;
 * else a runtime's API service that was started but made no socket leaves
 * the check undecided (ERROR: its socket was never seen); else nothing
 * present is a SKIP, and the rest is root-only.
 */
export function apiAccessVerdict(o: { present: readonly string[]; reachable: readonly string[]; described: readonly string[]; failed: readonly string[] }): Pick<CellDraft, 'status' | 'reason'> {
  if (o.reachable.length) return { status: 'FAIL', reason: `reachable by a non-root user: ${o.reachable.slice(0, 5).join('; ')} (${REMEDY})` };
  if (o.failed.length) return { status: 'ERROR', reason: `harness: not every runtime API socket could be looked at: ${o.failed.join('; ')}${o.described.length ? `; root only: ${o.described.join('; ')}` : ''}` };
  if (!o.present.length) return { status: 'SKIP', reason: `nothing to check here: no runtime API socket (${API_SOCKETS.join(', ')}) and no checkpoint directory (${CHECKPOINT_DIRS.join(', ')}) on this node` };
  return { status: 'PASS', reason: `root only: ${o.described.join('; ')}` };
}

function services(x: ApiAccessContext): { name: string; binary: string; argv: string[]; socket: string }[] {
  const out = [];
  const podman = x.runtimes.find((r) => r.name === 'podman' && r.version);
  if (podman) out.push({ name: 'podman', binary: 'podman', socket: '/run/podman/podman.sock', argv: [...podmanCommand(`${x.dir}/podman`, 'vfs', podman.ociRuntime ?? 'runc'), 'system', 'service', '--time=0', 'unix:///run/podman/podman.sock'] });
  out.push({ name: 'containerd', binary: 'containerd', socket: '/run/containerd/containerd.sock', argv: ['containerd', '--root', `${x.dir}/containerd`, '--state', '/run/containerd', '--address', '/run/containerd/containerd.sock'] });
  return out;
}

export function parseSeen(out: string): Seen[] {
  const list: Seen[] = [];
  for (const line of out.split('\n')) {
    const m = /^([SF])\|([^|]*)\|([0-7]+)\|(\d+)\|(\d+)\|(.+)$/.exec(line);
    if (m) list.push({ kind: m[1] as 'S' | 'F', type: m[2]!, mode: parseInt(m[3]!, 8), uid: Number(m[4]), gid: Number(m[5]), path: m[6]! });
  }
  return list;
}

/** Bits a non-root user gets: all of them when one owns it (an owner may chmod), else others', and the group's when the group is not root. */
function nonRootBits(s: Seen): number {
  if (s.uid !== 0) return 0o7;
  return (s.mode & 0o7) | (s.gid !== 0 ? (s.mode >> 3) & 0o7 : 0);
}

function describe(s: Seen): string {
  return `${s.mode.toString(8).padStart(4, '0')} ${s.uid}:${s.gid}`;
}

/** What in SEEN a non-root user can use: each present path whose parents they can search, and which they can connect to or read. */
export function reachableByNonRoot(seen: readonly Seen[], present: readonly string[]): string[] {
  const stat = new Map(seen.filter((s) => s.kind === 'S').map((s) => [s.path, s]));
  const searchable = (path: string): boolean => {
    for (let d = parentOf(path); d; d = parentOf(d)) {
      const s = stat.get(d);
      if (s && !(nonRootBits(s) & 1)) return false;
    }
    return true;
  };
  const out: string[] = [];
  for (const p of present) {
    const s = stat.get(p)!;
    if (!searchable(p)) continue;
    const bits = nonRootBits(s);
    if (/socket/.test(s.type) && bits & 2) out.push(`socket ${p} ${describe(s)}`);
    else if (/directory/.test(s.type) && bits & 5) out.push(`directory ${p} ${describe(s)}`);
    if (/directory/.test(s.type) && bits & 1)
      for (const f of seen.filter((e) => e.kind === 'F' && e.path.startsWith(`${p}/`) && e.type !== 'l' && nonRootBits(e) & 4)) out.push(`${f.type === 'd' ? 'directory' : 'file'} ${f.path} ${describe(f)}`);
  }
  return out;
}

function parentOf(p: string): string | undefined {
  if (p === '/') return undefined;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}
