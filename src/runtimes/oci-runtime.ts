import type { Environment, ExecResult } from '../environments/environment.ts';
import { CGROUP_PARENT } from '../environments/cgroup-parent.ts';
import { ociConfig } from './oci-bundle.ts';
import { CRIU_CONFIG_ANNOTATION } from './cri/containerd-config.ts';
import { runtimeRun, shq, type CheckpointOptions, type ContainerRuntime, type ContainerSpec, type ContainerState, type RestoreOptions, type RuntimeCapabilities, type RuntimeRun } from './container-runtime.ts';

export interface DriverOptions {
  env: Environment;
  /** Extra environment for the runtime (reaches the criu it runs, e.g. CRIU_FAULT). */
  criuEnv: Record<string, string>;
  /** Unique per driver instance: names its cgroups, so teardown removes exactly those. */
  tag: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** What the runtime can do here, beyond what its driver class knows (see createRuntime). */
  capabilities: Omit<RuntimeCapabilities, 'exportImport'>;
  /** Where runc/crun keep their containers (default WORKDIR/NAME): a migration gives both nodes the same path. */
  baseDir?: string | undefined;
}

/** Removes the cgroups a driver's containers left (empty ones only; rmdir never removes a busy group). */
export function cgroupSweep(tag: string): string {
  return `for d in /sys/fs/cgroup/${CGROUP_PARENT}/${tag} /sys/fs/cgroup/*/${CGROUP_PARENT}/${tag}; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; rmdir /sys/fs/cgroup/${CGROUP_PARENT} /sys/fs/cgroup/*/${CGROUP_PARENT} 2>/dev/null; true`;
}

/**
 * runc and crun: the OCI runtime CLI both implement. Each container gets an
 * OCI bundle under the driver's directory (a copy of the workload rootfs and
 * a config.json); runtime state lives in the driver's own --root, so
 * teardown finds every container it made. The workload writes its protocol
 * lines to /cc/out.txt in its rootfs (CC_OUT), which the harness reads from
 * the bundle; the container's stdio is /dev/null.
 */
export class OciRuntime implements ContainerRuntime {
  readonly name: 'runc' | 'crun';
  readonly capabilities: RuntimeCapabilities;
  private readonly o: DriverOptions;
  private readonly base: string;

  constructor(name: 'runc' | 'crun', o: DriverOptions) {
    this.name = name;
    this.o = o;
    this.capabilities = o.capabilities;
    this.base = o.baseDir ?? `${o.env.workDir}/${name}`;
  }

  containerFiles(id: string): string {
    return this.bundle(id);
  }

  private get global(): string[] {
    return [this.name, '--root', `${this.base}/state`, ...(this.name === 'crun' ? ['--cgroup-manager', 'cgroupfs'] : [])];
  }
  bundle(id: string): string {
    return `${this.base}/${id}`;
  }

  private async sh(script: string, timeoutMs = this.o.timeoutMs) {
    const argv = ['sh', '-c', script];
    const result = await this.o.env.exec(argv, { timeoutMs, env: this.o.criuEnv, signal: this.o.signal });
    return { argv, result };
  }

  async prepare(workloads: Record<string, string>): Promise<RuntimeRun> {
    const t = `${this.base}/template`;
    const cmds = [`mkdir -p ${t}/cc ${t}/proc ${t}/dev ${t}/sys ${t}/tmp ${t}/etc ${this.base}/state`, `chmod 1777 ${t}/tmp`];
    for (const [name, path] of Object.entries(workloads)) cmds.push(`cp ${shq(path)} ${t}/cc/${name}`);
    const { argv, result } = await this.sh(cmds.join(' && '));
    return runtimeRun(this.o.env, argv, result);
  }

  async start(spec: ContainerSpec): Promise<RuntimeRun> {
    const b = this.bundle(spec.id);
    await this.o.env.remove(`${b}/runtime.log`);
    await this.o.env.makeDir(b);
    const cgroupsPath = `/${CGROUP_PARENT}/${this.o.tag}/${spec.id}`;
    const own = spec.own;
    // runc reads a CRIU configuration file named by this annotation on checkpoint and restore (one option a line, without its dashes).
    const criuConf = own?.criuConfig?.length ? `${b}/criu.conf` : undefined;
    if (criuConf) await this.o.env.writeFile(criuConf, own!.criuConfig!.map((o) => `${o.replace(/^--/, '')}\n`).join(''));
    const config = own
      ? ociConfig({ args: own.command, env: own.env, cgroupsPath, rootPath: own.rootfs, user: { uid: own.uid, gid: own.gid }, hostname: spec.id, ...(criuConf ? { annotations: { [CRIU_CONFIG_ANNOTATION]: criuConf } } : {}) })
      : ociConfig({ args: [`/cc/${spec.workload}`, ...spec.args], env: { CC_OUT: '/cc/out.txt' }, cgroupsPath });
    await this.o.env.writeFile(`${b}/config.json`, JSON.stringify(config, null, 1));
    const run = [...this.global, '--log', `${b}/runtime.log`, 'run', '-d', '--bundle', b, '--pid-file', `${b}/pid`, spec.id];
    // The container inherits the runtime's stdio: anything but /dev/null (a file or pipe of the harness's) is a
    // descriptor CRIU cannot dump from inside the container. The runtime's errors go to its --log instead.
    const copy = own ? '' : `cp -a ${this.base}/template ${b}/rootfs && `;
    const { argv, result } = await this.sh(`${copy}cd ${b} && ${run.map(shq).join(' ')} </dev/null >/dev/null 2>&1`);
    return runtimeRun(this.o.env, argv, result, [`${b}/runtime.log`]);
  }

  async lines(id: string): Promise<string[]> {
    const buf = await this.o.env.readFile(`${this.bundle(id)}/rootfs/cc/out.txt`).catch(() => Buffer.alloc(0));
    return buf.toString('utf8').split('\n').filter(Boolean);
  }

  async signal(id: string, sig: string): Promise<boolean> {
    const r = await this.o.env.exec([...this.global, 'kill', id, sig], { timeoutMs: this.o.timeoutMs, env: this.o.criuEnv });
    return r.exitCode === 0;
  }

  async state(id: string): Promise<ContainerState> {
    const r = await this.o.env.exec([...this.global, 'state', id], { timeoutMs: this.o.timeoutMs, env: this.o.criuEnv });
    if (r.exitCode !== 0) return 'gone';
    const status = /"status":\s*"(\w+)"/.exec(r.stdout)?.[1];
    return status === 'running' || status === 'paused' || status === 'created' ? 'running' : 'stopped';
  }

  async checkpoint(id: string, c: CheckpointOptions): Promise<RuntimeRun> {
    const work = `${c.imageDir}.work`;
    await this.o.env.makeDir(c.imageDir);
    await this.o.env.makeDir(work);
    const argv = [...this.global, 'checkpoint', '--image-path', c.imageDir, '--work-path', work];
    if (c.leaveRunning) argv.push('--leave-running');
    if (c.tcpEstablished) argv.push('--tcp-established');
    if (c.fileLocks) argv.push('--file-locks');
    if (c.shellJob) argv.push('--shell-job');
    if (c.extUnixSk) argv.push('--ext-unix-sk');
    if (c.preDump) argv.push('--pre-dump');
    if (c.parentImageDir) argv.push('--parent-path', c.parentImageDir);
    argv.push(id);
    const result = await this.o.env.exec(argv, { timeoutMs: this.o.timeoutMs, env: this.o.criuEnv, signal: this.o.signal, cwd: this.bundle(id) });
    return runtimeRun(this.o.env, argv, result, [`${work}/${c.preDump ? 'pre-dump' : 'dump'}.log`]);
  }

  async restore(id: string, r: RestoreOptions): Promise<RuntimeRun> {
    const b = this.bundle(id);
    const work = `${r.imageDir}.work`;
    const opts = [...this.global, '--log', `${b}/runtime.log`, 'restore', '-d', '--bundle', b, '--image-path', r.imageDir, '--work-path', work, '--pid-file', `${b}/pid`];
    if (r.tcpEstablished) opts.push('--tcp-established');
    if (r.fileLocks) opts.push('--file-locks');
    if (r.shellJob) opts.push('--shell-job');
    if (r.extUnixSk) opts.push('--ext-unix-sk');
    opts.push(id);
    const { argv, result } = await this.sh(`cd ${b} && ${opts.map(shq).join(' ')} </dev/null >/dev/null 2>&1`);
    return runtimeRun(this.o.env, argv, result, [`${b}/runtime.log`, `${work}/restore.log`]);
  }

  execIn(id: string, argv: readonly string[], o: { user?: string | undefined; timeoutMs: number; signal?: AbortSignal | undefined }): Promise<ExecResult> {
    return this.o.env.exec([...this.global, 'exec', ...(o.user ? ['--user', o.user] : []), '--cwd', '/', id, ...argv], { timeoutMs: o.timeoutMs, env: this.o.criuEnv, signal: o.signal });
  }

  async pid(id: string): Promise<number | undefined> {
    const n = Number((await this.o.env.readFile(`${this.bundle(id)}/pid`).catch(() => Buffer.alloc(0))).toString('utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  async remove(id: string): Promise<void> {
    await this.o.env.exec([...this.global, 'delete', '-f', id], { timeoutMs: this.o.timeoutMs, env: this.o.criuEnv }).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    const g = this.global.map(shq).join(' ');
    await this.o.env
      .exec(['sh', '-c', `for c in $(${g} list -q 2>/dev/null); do ${g} delete -f "$c" >/dev/null 2>&1; done; ${cgroupSweep(this.o.tag)}`], { timeoutMs: this.o.timeoutMs * 2, env: this.o.criuEnv })
      .catch(() => undefined);
  }
}
