import type { Pilot } from '../config/pilot-schema.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import { describeRuntimeFailure, shq, type ContainerRuntime, type JobOptions, type RuntimeRun } from '../runtimes/container-runtime.ts';
import type { Criu } from '../criu/driver.ts';
import type { RuntimeInfo, RuntimeName } from '../runtimes/detect.ts';
import { createRuntime } from '../runtimes/factory.ts';
import { poll } from '../util/wait-until.ts';
import { PilotSubject, tail, type StepOutcome } from './pilot-service.ts';
import { stageContainerRootfs, type StagedRootfs } from './pilot-container-rootfs.ts';

type ContainerService = Extract<Pilot['service'], { container: unknown }>['container'];

/** The CRIU options each runtime passes on to CRIU, by the flag a pilot names (runc and crun take all four on checkpoint and restore). */
const RUNTIME_FLAGS: Record<RuntimeName, Partial<Record<string, keyof RuntimeFlags>>> = {
  runc: { '--tcp-established': 'tcpEstablished', '--file-locks': 'fileLocks', '--shell-job': 'shellJob', '--ext-unix-sk': 'extUnixSk' },
  crun: { '--tcp-established': 'tcpEstablished', '--file-locks': 'fileLocks', '--shell-job': 'shellJob', '--ext-unix-sk': 'extUnixSk' },
  podman: { '--tcp-established': 'tcpEstablished', '--file-locks': 'fileLocks' },
};

export interface RuntimeFlags extends JobOptions {
  tcpEstablished?: boolean;
  fileLocks?: boolean;
}

/**
 * A pilot's criu.options as the runtime's own checkpoint/restore flags. runc
 * takes any other option through a CRIU configuration file (config, see
 * OciRuntime: the org.criu.config annotation); crun and podman cannot, and
 * those options are named (the stage is then a SKIP naming them: an option
 * is never dropped silently). An option with a value (--ext-unix-sk=…) has
 * no runtime flag.
 */
export function runtimeFlags(runtime: RuntimeName, options: readonly string[]): { flags: RuntimeFlags; config: string[]; unsupported: string[] } {
  const flags: RuntimeFlags = {};
  const config: string[] = [];
  const unsupported: string[] = [];
  for (const o of options) {
    const k = RUNTIME_FLAGS[runtime][o];
    if (k) flags[k] = true;
    else if (runtime === 'runc') config.push(o);
    else unsupported.push(o);
  }
  return { flags, config, unsupported };
}

/**
 * The runtime a container pilot names, from a node image's inventory, or
 * why it cannot serve (a SKIP's reason, naming the missing capability):
 * not installed; when CHECKPOINT, unable to checkpoint here or without a
 * flag for one of OPTIONS. WHERE names the pool in the reason (migrations).
 */
export function pilotRuntime(runtimes: readonly RuntimeInfo[], pilot: Pilot, o: { checkpoint: boolean; options: readonly string[]; stage: string; where?: string }): RuntimeInfo | string {
  if (!('container' in pilot.service)) throw new TypeError(`pilot ${pilot.name} is not a container service`);
  const name = pilot.service.container.runtime;
  const on = o.where ? ` on ${o.where}` : '';
  const info = runtimes.find((r) => r.name === name);
  if (!info || info.version === null) return `capability missing: ${name}${on} (not installed in ${o.where ? 'its' : 'this'} node image: add it to the pilot's packages, or name a pool whose image has it)`;
  if (!o.checkpoint) return info;
  if (!info.checkpoint) return `capability missing: ${name} ${info.version}${on} cannot checkpoint here: ${info.detail}`;
  const { unsupported } = runtimeFlags(name, o.options);
  if (unsupported.length) return `capability missing: ${name} has no checkpoint/restore flag for the CRIU option(s) ${unsupported.join(', ')} the ${o.stage} stage needs (crun passes --tcp-established, --file-locks, --shell-job, --ext-unix-sk; podman --tcp-established, --file-locks; runc any, through a CRIU configuration file)`;
  return info;
}

/**
 * A container pilot's service in a node: its root filesystem staged there
 * (throws ContainerRootfsError when it cannot be), a driver of the runtime
 * keeping its containers under DIR/rt, the container named after the
 * attempt directory's tail (the same on both nodes of a migration).
 */
export async function makePilotContainer(env: Environment, pilot: Pilot, o: { info: RuntimeInfo; dir: string; probe: string; timeouts: { commandMs: number; criuMs: number }; criu: Criu; criuEnv: Record<string, string>; tag: string; criuConfig: string[]; signal?: AbortSignal | undefined }): Promise<PilotContainer> {
  const rootfs = await stageContainerRootfs(env, pilot, { timeoutMs: 10 * o.timeouts.commandMs, signal: o.signal });
  const id = `${pilot.name}-${o.dir.split('/').slice(-2).join('-')}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(-60);
  const runtime = createRuntime(o.info, { env, criuEnv: o.criuEnv, tag: o.tag, timeoutMs: o.timeouts.criuMs, criu: o.criu, probeTimeoutMs: o.timeouts.commandMs, baseDir: `${o.dir}/rt`, signal: o.signal });
  return new PilotContainer(env, pilot, { probe: o.probe, commandMs: o.timeouts.commandMs, runtime, id, rootfs, ociRuntime: o.info.ociRuntime, criuConfig: o.criuConfig });
}

/**
 * A pilot service that is a container: the pilot's root filesystem (staged
 * in the node once), run by runc, crun or podman as the pilot's user, in the
 * node's network namespace (the client and the tcp/http probes reach its
 * port on the node's loopback, as a hostNetwork pod's). Seed, verify and
 * command probes run inside it through the runtime's exec. The container is
 * deleted (and the driver's state and cgroups with it) by remove().
 */
export class PilotContainer extends PilotSubject {
  readonly runtime: ContainerRuntime;
  /** The container's name (unique in the node: the attempt directory's tail). */
  readonly id: string;
  private readonly c: ContainerService;
  private readonly rootfs: StagedRootfs;
  private readonly ociRuntime: string;
  private ids: { uid: number; gid: number } | undefined;
  private started = false;
  private last: RuntimeRun | undefined;

  private readonly criuConfig: string[];

  constructor(env: Environment, pilot: Pilot, o: { probe: string; commandMs: number; runtime: ContainerRuntime; id: string; rootfs: StagedRootfs; ociRuntime?: string | undefined; criuConfig?: string[] }) {
    if (!('container' in pilot.service)) throw new TypeError(`pilot ${pilot.name}: a command service runs as a PilotService`);
    super(env, pilot, o);
    this.c = pilot.service.container;
    this.runtime = o.runtime;
    this.id = o.id;
    this.rootfs = o.rootfs;
    this.ociRuntime = o.ociRuntime ?? 'runc';
    this.criuConfig = o.criuConfig ?? [];
  }

  /** The last runtime command that failed (its diagnoses and CRIU log excerpt for the cell). */
  get failedRun(): RuntimeRun | undefined {
    return this.last && !this.last.ok ? this.last : undefined;
  }

  protected async inService(argv: readonly string[], user: string | undefined, timeoutMs: number): Promise<ExecResult> {
    if (!user || user === 'root') return this.runtime.execIn(this.id, argv, { timeoutMs, signal: this.signal });
    // runc/crun take uid:gid, not names: a named user is looked up in the container's passwd (runuser would need util-linux in it).
    const ids = this.runtime.name === 'podman' ? undefined : await this.lookup(user);
    if (this.runtime.name !== 'podman' && !ids) return { exitCode: 126, stdout: '', stderr: `user ${user} is not in the container's /etc/passwd`, timedOut: false, durationMs: 0 };
    return this.runtime.execIn(this.id, argv, { user: ids ? `${ids.uid}:${ids.gid}` : user, timeoutMs, signal: this.signal });
  }

  private async lookup(user: string): Promise<{ uid: number; gid: number } | undefined> {
    const r = await this.exec(['awk', '-F:', '-v', `u=${user}`, '$1 == u { print $3; print $4; exit }', `${this.rootfs.dir}/etc/passwd`]);
    const [uid, gid] = r.stdout.trim().split('\n').map(Number);
    return r.exitCode === 0 && Number.isInteger(uid) && Number.isInteger(gid) ? { uid: uid!, gid: gid! } : undefined;
  }

  async resolveUser(): Promise<StepOutcome> {
    const ids = this.c.user === 'root' ? { uid: 0, gid: 0 } : await this.lookup(this.c.user);
    if (!ids) return { ok: false, detail: `user ${this.c.user} is not in the container's /etc/passwd (${this.rootfs.source})` };
    this.ids = ids;
    return { ok: true, detail: '' };
  }

  /** A container's root filesystem is its own writable copy: nothing to prepare. */
  prepareWritable(): Promise<StepOutcome> {
    return Promise.resolve({ ok: true, detail: '' });
  }

  /** The driver's directory (runc/crun: its --root and bundles; podman: its store, containers.conf and runtime wrapper); removed by remove(). */
  async prepareRuntime(): Promise<StepOutcome> {
    this.started = true;
    const prepared = (this.last = await this.runtime.prepare({}));
    return prepared.ok ? { ok: true, detail: '' } : { ok: false, detail: describeRuntimeFailure(`${this.runtime.name} setup`, prepared, this.commandMs) };
  }

  async start(): Promise<StepOutcome> {
    const prepared = await this.prepareRuntime();
    if (!prepared.ok) return prepared;
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...this.rootfs.env, ...(this.c.user === 'root' ? {} : { HOME: '/' }) };
    const run = (this.last = await this.runtime.start({ id: this.id, workload: '', args: [], own: { rootfs: this.rootfs.dir, command: this.c.command, uid: this.ids!.uid, gid: this.ids!.gid, env, ...(this.criuConfig.length ? { criuConfig: this.criuConfig } : {}) } }));
    if (!run.ok) return { ok: false, detail: describeRuntimeFailure(`${this.runtime.name} run`, run, this.commandMs) };
    return (await this.readPid()) ? { ok: true, detail: '' } : { ok: false, detail: `${this.runtime.name} run exited 0 but the container's PID cannot be read` };
  }

  /** The container's init PID as the node sees it (after a start or a restore). */
  async readPid(): Promise<boolean> {
    this.pid = (await this.runtime.pid(this.id)) ?? 0;
    return this.pid > 0;
  }

  async runsAsUser(): Promise<StepOutcome> {
    const r = await this.exec(['sh', '-c', 'grep "^Uid:" "/proc/$1/status"', 'sh', String(this.pid)]);
    const [, real, effective] = r.stdout.trim().split(/\s+/);
    if (r.exitCode !== 0 || !real) return { ok: false, detail: `cannot read the uid of the container's PID ${this.pid}: ${tail(r)}` };
    const want = String(this.ids?.uid ?? 0);
    return real === want && effective === want ? { ok: true, detail: '' } : { ok: false, detail: `runs as uid ${real}/${effective}, not ${this.c.user} (${want})` };
  }

  async alive(): Promise<boolean> {
    return (await this.runtime.state(this.id)) === 'running';
  }

  /** The container is no longer running (a checkpoint without --leave-running stops it). */
  async waitGone(timeoutMs: number): Promise<boolean> {
    return (await poll(async () => ((await this.alive()) ? undefined : true), { intervalMs: 20, timeoutMs })) ?? false;
  }

  /** The runtime's checkpoint; records the run. */
  async checkpoint(imageDir: string, o: RuntimeFlags & { leaveRunning?: boolean; preDump?: boolean; parentImageDir?: string; exportTo?: string }): Promise<RuntimeRun> {
    return (this.last = await this.runtime.checkpoint(this.id, { imageDir, ...o }));
  }

  /** The size of the checkpoint just taken, where the runtime keeps it itself (podman; read before a restore consumes it); undefined elsewhere. */
  async keptImageBytes(): Promise<number | undefined> {
    const dir = await this.runtime.checkpointImages?.(this.id);
    return dir ? (await this.env.du(dir).catch(() => 0)) || undefined : undefined;
  }

  /** The runtime's restore (detached; podman: from an exported archive with importFrom); the PID is read again. */
  async restore(imageDir: string, o: RuntimeFlags & { importFrom?: string }): Promise<RuntimeRun> {
    this.started = true;
    const run = (this.last = await this.runtime.restore(this.id, { imageDir, ...o }));
    if (run.ok) await this.readPid();
    return run;
  }

  async lines(): Promise<string[]> {
    if (this.runtime.name === 'podman') return (await this.runtime.lines(this.id)).slice(-40);
    const buf = await this.env.readFile(`${this.runtime.containerFiles!(this.id)}/runtime.log`).catch(() => Buffer.alloc(0));
    return buf.toString('utf8').split('\n').filter(Boolean).slice(-20).map((l) => `${this.runtime.name}: ${l}`);
  }

  /** The CRIU configuration file runc reads (org.criu.config), for the cell's commands; undefined without one. */
  criuConfigNote(): string | undefined {
    return this.criuConfig.length ? `org.criu.config (CRIU configuration file runc reads on checkpoint and restore): ${this.criuConfig.map((o) => o.replace(/^--/, '')).join(', ')}` : undefined;
  }

  async remove(): Promise<void> {
    if (!this.started) return;
    await this.runtime.remove(this.id).catch(() => undefined);
    await this.runtime.dispose().catch(() => undefined);
    // A container that outlived its delete (it should not): its PID is killed so nothing of the attempt stays.
    if (this.pid && (await this.env.isRunning(this.pid).catch(() => false))) await this.env.exec(['sh', '-c', `kill -9 ${shq(String(this.pid))} 2>/dev/null; true`], { timeoutMs: 5000 }).catch(() => undefined);
  }
}
