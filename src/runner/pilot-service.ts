import type { Pilot } from '../config/pilot-schema.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import { poll } from '../util/wait-until.ts';

type CommandService = Extract<Pilot['service'], { command: unknown }>;

/** Source name of the tmpfs mounts the engine makes (how cleanup finds its own). */
const TMPFS_SOURCE = 'cc-pilot';

/**
 * Makes each writable directory a tmpfs holding what the (read-only) node
 * image has there, owner and mode kept; a directory the image lacks is made
 * (its parent must be writable, e.g. under /run or /tmp) and given to the
 * service's user. Runs inside the node as root: $1 uid, $2 gid, then the dirs.
 */
const WRITABLE_SCRIPT = `set -eu
uid=$1; gid=$2; shift 2
for d in "$@"; do
  if [ -d "$d" ]; then
    own=$(stat -c %u:%g "$d"); mode=$(stat -c %a "$d")
    stage=$(mktemp -d /tmp/cc-pilot-stage.XXXXXX)
    cp -a "$d/." "$stage/"
    mount -t tmpfs -o "mode=$mode" ${TMPFS_SOURCE} "$d"
    cp -a "$stage/." "$d/"
    chown "$own" "$d"; chmod "$mode" "$d"
    rm -rf "$stage"
  else
    mkdir -p "$d"; chown "$uid:$gid" "$d"
  fi
done`;

/** Unmounts the engine's tmpfs mounts on the given dirs (deepest first); never fails. */
const UNMOUNT_SCRIPT = `for d in "$@"; do
  while grep -q " $d [^ ]* - tmpfs ${TMPFS_SOURCE} " /proc/self/mountinfo; do umount -l "$d" || break; done
done; true`;

export interface StepOutcome {
  ok: boolean;
  /** What went wrong, one line. */
  detail: string;
}

/**
 * What the stages do with a pilot's service, whatever it is (a command in
 * the node image, or a container): the readiness probe, seed and verify
 * steps are shared; how a command runs "in the service" (in the node, or
 * through the runtime's exec), how it starts, is alive and goes are not.
 */
export abstract class PilotSubject {
  pid = 0;
  protected readonly env: Environment;
  protected readonly pilot: Pilot;
  protected readonly probe: string;
  protected readonly commandMs: number;
  signal: AbortSignal | undefined;

  constructor(env: Environment, pilot: Pilot, o: { probe: string; commandMs: number }) {
    this.env = env;
    this.pilot = pilot;
    this.probe = o.probe;
    this.commandMs = o.commandMs;
  }

  protected exec(argv: readonly string[], timeoutMs = this.commandMs): Promise<ExecResult> {
    return this.env.exec(argv, { timeoutMs, signal: this.signal });
  }

  /** Runs a seed, verify or readiness command where the service lives, as USER (default root). */
  protected abstract inService(argv: readonly string[], user: string | undefined, timeoutMs: number): Promise<ExecResult>;
  /** The user's uid and gid where the service runs; a user that does not exist ends the attempt (the config does not fit). */
  abstract resolveUser(): Promise<StepOutcome>;
  abstract prepareWritable(): Promise<StepOutcome>;
  abstract start(): Promise<StepOutcome>;
  /** Does the service's process run as its user (real and effective uid)? */
  abstract runsAsUser(): Promise<StepOutcome>;
  abstract alive(): Promise<boolean>;
  /** Gone and reaped (a restore needs the PID free). */
  abstract waitGone(timeoutMs: number): Promise<boolean>;
  abstract lines(): Promise<string[]>;
  /** Stops the service and removes what it was given; never throws. */
  abstract remove(): Promise<void>;

  /** Polls the readiness probe until it answers right, the service dies, or the probe's timeout passes. */
  async waitReady(): Promise<StepOutcome & { alive: boolean }> {
    const ready = this.pilot.ready;
    const t0 = performance.now();
    let last = '';
    let checks = 0;
    for (;;) {
      const left = ready.timeoutMs - (performance.now() - t0);
      if (left <= 0) return { ok: false, alive: true, detail: `not ready within ${ready.timeoutMs} ms (last probe: ${last || 'none'})` };
      const probeMs = Math.max(1000, Math.min(left, 10_000));
      const r = 'command' in ready ? await this.inService(ready.command, undefined, probeMs) : await this.exec(this.readyArgv(Math.min(2000, Math.max(100, left))), probeMs);
      if (r.exitCode === 0 && !r.timedOut) return { ok: true, alive: true, detail: '' };
      last = tail(r);
      if (++checks % 3 === 0 && !(await this.alive())) return { ok: false, alive: false, detail: `the service exited before it was ready (last probe: ${last})` };
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  private readyArgv(probeMs: number): string[] {
    const r = this.pilot.ready;
    if ('command' in r) return r.command;
    if ('tcp' in r) return [this.probe, 'check', 'tcp', r.tcp.host, String(r.tcp.port), String(Math.round(probeMs))];
    return [this.probe, 'check', 'http', r.http.host, String(r.http.port), String(Math.round(probeMs)), r.http.path, String(r.http.status), ...(r.http.body ? [r.http.body] : [])];
  }

  /** Runs seed or verify commands in order; the first that fails ends it. */
  async steps(which: 'seed' | 'verify'): Promise<StepOutcome> {
    for (const [i, c] of this.pilot[which].entries()) {
      const r = await this.inService(c.command, c.user, c.timeoutMs);
      if (r.exitCode !== 0 || r.timedOut) return { ok: false, detail: `${which}[${i}] (${c.command.join(' ')}) ${r.timedOut ? `timed out after ${c.timeoutMs} ms` : `exited ${r.exitCode}`}: ${tail(r)}` };
    }
    return { ok: true, detail: '' };
  }
}

/**
 * The pilot's service inside one node: its writable directories, its
 * process started as its user (setpriv from util-linux, which execs: the
 * PID is the service's own and the root of the tree CRIU dumps), in new
 * namespaces first when it names some (unshare as root, which execs too), readiness,
 * seed and verify steps, and its removal.
 */
export class PilotService extends PilotSubject {
  private readonly svc: CommandService;
  private readonly outFile: string;
  /** The user's uid and gid in the node image, once resolveUser found them. */
  ids: { uid: string; gid: string } | undefined;
  private mounted = false;

  constructor(env: Environment, pilot: Pilot, o: { outFile: string; probe: string; commandMs: number }) {
    if (!('command' in pilot.service)) throw new TypeError(`pilot ${pilot.name}: a container service runs as a PilotContainer`);
    super(env, pilot, o);
    this.svc = pilot.service;
    this.outFile = o.outFile;
  }

  protected inService(argv: readonly string[], user: string | undefined, timeoutMs: number): Promise<ExecResult> {
    return this.exec(user && user !== 'root' ? ['runuser', '-u', user, '--', ...argv] : argv, timeoutMs);
  }

  /** The user's uid and gid in the node image; a user the image lacks ends the attempt (the config does not fit the image). */
  async resolveUser(): Promise<StepOutcome> {
    const r = await this.exec(['sh', '-c', 'id -u "$1" && id -g "$1"', 'sh', this.svc.user]);
    const [uid, gid] = r.stdout.trim().split('\n');
    if (r.exitCode !== 0 || !uid || !gid) return { ok: false, detail: `user ${this.svc.user} does not exist in the node image (id: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`})` };
    this.ids = { uid, gid };
    return { ok: true, detail: '' };
  }

  /** The writable directories, as tmpfs with the image's contents. */
  async prepareWritable(): Promise<StepOutcome> {
    if (!this.svc.writable.length) return { ok: true, detail: '' };
    this.mounted = true;
    const r = await this.exec(['sh', '-c', WRITABLE_SCRIPT, 'sh', this.ids!.uid, this.ids!.gid, ...this.svc.writable]);
    return r.exitCode === 0 ? { ok: true, detail: '' } : { ok: false, detail: `making ${this.svc.writable.join(', ')} writable failed: ${tail(r)}` };
  }

  async start(): Promise<StepOutcome> {
    const user = this.svc.user === 'root' ? this.svc.command : ['setpriv', `--reuid=${this.ids!.uid}`, `--regid=${this.ids!.gid}`, '--init-groups', '--', ...this.svc.command];
    // unshare without --fork execs too: the PID stays the service's own, in the namespaces root made for it.
    const argv = this.svc.namespaces.length ? ['unshare', ...this.svc.namespaces.map((n) => `--${n}`), '--', ...user] : user;
    const home: Record<string, string> = this.svc.user === 'root' ? {} : { HOME: '/' };
    this.pid = await this.env.spawnDetached(argv, { outFile: this.outFile, env: { ...home, ...this.svc.env } });
    return { ok: true, detail: '' };
  }

  /**
   * Does the service's process run as its user (real and effective uid), in
   * namespaces of its own where it asked for them? A setpriv or unshare that
   * did not take is the tuple's failure.
   */
  async runsAsUser(): Promise<StepOutcome> {
    const r = await this.exec(['sh', '-c', 'grep "^Uid:" "/proc/$1/status"', 'sh', String(this.pid)]);
    const [, real, effective] = r.stdout.trim().split(/\s+/);
    if (r.exitCode !== 0 || !real) return { ok: false, detail: `cannot read the uid of PID ${this.pid}: ${tail(r)}` };
    const want = this.ids?.uid ?? '0';
    if (real !== want || effective !== want) return { ok: false, detail: `runs as uid ${real}/${effective}, not ${this.svc.user} (${want})` };
    for (const ns of this.svc.namespaces) {
      const n = await this.exec(['sh', '-c', 'readlink "/proc/$1/ns/$2" /proc/self/ns/$2', 'sh', String(this.pid), ns]);
      const [theirs, ours] = n.stdout.trim().split('\n');
      if (n.exitCode !== 0 || !theirs || !ours) return { ok: false, detail: `cannot read the ${ns} namespace of PID ${this.pid}: ${tail(n)}` };
      if (theirs === ours) return { ok: false, detail: `shares the node's ${ns} namespace (${ours}), not one of its own` };
    }
    return { ok: true, detail: '' };
  }

  alive(): Promise<boolean> {
    return this.env.isRunning(this.pid);
  }

  async waitGone(timeoutMs: number): Promise<boolean> {
    const gone = async () => !(await this.alive()) && !(this.env.pidInUse && (await this.env.pidInUse(this.pid)));
    return (await poll(async () => ((await gone()) ? true : undefined), { intervalMs: 10, timeoutMs })) ?? false;
  }

  async lines(): Promise<string[]> {
    const buf = await this.env.readFile(this.outFile).catch(() => Buffer.alloc(0));
    return buf.toString('utf8').split('\n').filter(Boolean).slice(-40);
  }

  /** Kills the service's whole session and removes its tmpfs mounts; never throws. */
  async remove(): Promise<void> {
    if (this.pid) await this.env.exec(['sh', '-c', `kill -9 -${this.pid} ${this.pid} 2>/dev/null; true`], { timeoutMs: 5000 }).catch(() => undefined);
    if (this.pid) await this.waitGone(5000).catch(() => false);
    if (this.mounted) await this.env.exec(['sh', '-c', UNMOUNT_SCRIPT, 'sh', ...[...this.svc.writable].reverse()], { timeoutMs: 10_000 }).catch(() => undefined);
    this.mounted = false;
  }
}

export function tail(r: ExecResult): string {
  const text = `${r.stdout}\n${r.stderr}`.trim().split('\n').filter(Boolean).slice(-2).join(' | ');
  return text || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`);
}
