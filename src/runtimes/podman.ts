import { CGROUP_PARENT } from '../environments/cgroup-parent.ts';
import { podmanCommand } from '../environments/podman-command.ts';
import { cgroupSweep, type DriverOptions } from './oci-runtime.ts';
import type { Environment, ExecResult } from '../environments/environment.ts';
import { runtimeRun, shq, type CheckpointOptions, type ContainerRuntime, type ContainerSpec, type ContainerState, type ExportImport, type PeerOptions, type RestoreOptions, type RuntimeCapabilities, type RuntimeRun } from './container-runtime.ts';

export const WORKLOAD_IMAGE = 'localhost/criu-compat-workloads:latest';

/**
 * What the harness adds to podman's configuration (CONTAINERS_CONF_OVERRIDE):
 * containers sit on podman's default bridge network, and netavark sets up
 * the bridge, the veth pair and lo without firewall rules — nothing needs
 * NAT or published ports, and the node image need not carry nft.
 */
export const CONTAINERS_CONF = '[network]\nfirewall_driver = "none"\n';

/**
 * podman, as a node's container engine: storage, run state, temporary files
 * and network config all under the driver's directory (the node image's own
 * root stays read-only and untouched), the vfs storage driver (no overlay on
 * overlay), cgroupfs under the harness's cgroup parent, podman's default bridge
 * network (with --network none podman 5 restores into a namespace whose lo
 * is down, so no loopback TCP connection survives: diagnosis
 * restore-loopback-down), the node's own file limit
 * (--ulimit host: without CAP_SYS_RESOURCE podman's default raise fails),
 * and the OCI runtime the detection chose. The workload image is the
 * workload rootfs imported from a tarball: no registry anywhere.
 */
export class PodmanRuntime implements ContainerRuntime, ExportImport {
  readonly name = 'podman';
  readonly capabilities: RuntimeCapabilities;
  readonly ociRuntime: string;
  readonly base: string;
  /** What podman is told to run: the OCI runtime, or a wrapper that hands it the pool's CRIU environment. */
  runtimePath: string;

  /** Where podman itself sees its directory: the same path on every node, as with a standard podman configuration. */
  readonly node: string;

  /**
   * nodePath: the path podman's directory must have (another node's); when
   * it differs from this environment's own (two sessions of one VM), every
   * podman command runs in a private mount namespace with this driver's
   * directory bound there — a checkpoint archive names paths of its node.
   */
  private readonly o: DriverOptions & { ociRuntime: string };
  constructor(o: DriverOptions & { ociRuntime: string; nodePath?: string }) {
    this.o = o;
    this.ociRuntime = o.ociRuntime;
    this.base = `${o.env.workDir}/podman`;
    this.node = o.nodePath ?? this.base;
    this.runtimePath = o.ociRuntime;
    this.capabilities = { ...o.capabilities, exportImport: this };
  }

  peerOn(env: Environment, own?: PeerOptions): { runtime: PodmanRuntime; prepare(workloads: Record<string, string>): Promise<RuntimeRun> } {
    // The other node sees podman's directory at the same path as this one does (its own storage behind it).
    // Another pool's node runs its own podman with its own OCI runtime, CRIU settings and capabilities.
    const runtime = new PodmanRuntime({ ...this.o, ...own, env, tag: `${this.o.tag}-peer`, nodePath: this.node });
    const prepare = async (workloads: Record<string, string>) => {
      const image = `${this.o.env.workDir}/workload-image.tar`;
      const saved = await this.saveImage(image);
      if (!saved.ok) throw new Error(`podman save: ${saved.result.stderr.trim()}`);
      const there = `${env.workDir}/workload-image.tar`;
      await env.writeFile(there, await this.o.env.readFile(image));
      return runtime.prepare(workloads, there);
    };
    return { runtime, prepare };
  }

  get global(): string[] {
    const b = this.node;
    const wrap = this.node === this.base ? [] : ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mkdir -p "$2" && mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', this.base, this.node];
    return [...wrap, ...podmanCommand(b, 'vfs', this.runtimePath)];
  }

  private env(): Record<string, string> {
    return { ...this.o.criuEnv, TMPDIR: `${this.node}/tmp`, CONTAINERS_CONF_OVERRIDE: `${this.node}/containers.conf` };
  }

  private async podman(args: string[], timeoutMs = this.o.timeoutMs, extraEnv: Record<string, string> = {}) {
    const argv = [...this.global, ...args];
    const result = await this.o.env.exec(argv, { timeoutMs, env: { ...this.env(), ...extraEnv }, signal: this.o.signal });
    return { argv, result };
  }

  /**
   * Without imageFrom the workload image is imported from the workload
   * rootfs. With it (another node joining a migration) the image is loaded
   * from a `podman save` archive of the source node's, so that it has the
   * same ID there, as a registry pull would give: a checkpoint refers to its
   * image by ID.
   */
  async prepare(workloads: Record<string, string>, imageFrom?: string): Promise<RuntimeRun> {
    const t = `${this.base}/rootfs`;
    const cmds = [`mkdir -p ${t}/cc ${t}/proc ${t}/dev ${t}/sys ${t}/tmp ${t}/etc ${this.base}/tmp ${this.base}/net`, `chmod 1777 ${t}/tmp`];
    await this.o.env.makeDir(this.base);
    await this.o.env.writeFile(`${this.base}/containers.conf`, CONTAINERS_CONF, 0o600);
    for (const [name, path] of Object.entries(workloads)) cmds.push(`cp ${shq(path)} ${t}/cc/${name}`);
    // podman starts its OCI runtime with an environment of its own: the pool's
    // CRIU settings (e.g. CRIU_FAULT) reach criu only through a wrapper. Every
    // node has one, even with no settings: a checkpoint archive names the
    // runtime by path, and another pool's node must have it at the same path.
    {
      const where = await this.o.env.exec(['sh', '-c', `command -v ${shq(this.ociRuntime)}`], { timeoutMs: this.o.timeoutMs });
      const real = where.stdout.trim() || this.ociRuntime;
      const wrapper = `${this.base}/oci-runtime`;
      const exports = Object.entries(this.o.criuEnv).map(([k, v]) => `export ${k}=${shq(v)}\n`);
      await this.o.env.writeFile(wrapper, `#!/bin/sh\n${exports.join('')}exec ${shq(real)} "$@"\n`, 0o700);
      this.runtimePath = `${this.node}/oci-runtime`;
    }
    const g = this.global.map(shq).join(' ');
    if (imageFrom) cmds.push(`${g} load -q -i ${shq(imageFrom)}`);
    else cmds.push(`tar -C ${t} -cf ${this.base}/rootfs.tar .`, `${g} import ${this.base}/rootfs.tar ${WORKLOAD_IMAGE}`);
    const argv = ['sh', '-c', cmds.join(' && ')];
    const result = await this.o.env.exec(argv, { timeoutMs: this.o.timeoutMs * 3, env: this.env(), signal: this.o.signal });
    return runtimeRun(this.o.env, argv, result);
  }

  /**
   * A pilot's root filesystem as a local image (once per driver): a
   * container made from an image, not from --rootfs, because podman's
   * restore --import re-creates a container from its image (a --rootfs
   * container has none, and its import fails).
   */
  private async importRootfs(rootfs: string): Promise<RuntimeRun> {
    const g = this.global.map(shq).join(' ');
    const image = pilotImage(rootfs);
    const tar = `${this.base}/pilot-image.tar`;
    const argv = ['sh', '-c', `${g} image exists ${shq(image)} || { tar --numeric-owner -C ${shq(rootfs)} -cf ${tar} . && ${g} import -q ${tar} ${shq(image)} >/dev/null; s=$?; rm -f ${tar}; exit $s; }`];
    const result = await this.o.env.exec(argv, { timeoutMs: this.o.timeoutMs * 3, env: this.env(), signal: this.o.signal });
    return runtimeRun(this.o.env, argv, result);
  }

  async saveImageOf(id: string, to: string): Promise<RuntimeRun> {
    const r = await this.o.env.exec([...this.global, 'inspect', '--format', '{{.ImageName}}', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    if (r.exitCode !== 0 || !r.stdout.trim()) return runtimeRun(this.o.env, [...this.global, 'inspect', id], r);
    await this.o.env.remove(to);
    const { argv, result } = await this.podman(['save', '-q', '-o', to, r.stdout.trim()], this.o.timeoutMs * 3);
    return runtimeRun(this.o.env, argv, result);
  }

  async loadImage(from: string): Promise<RuntimeRun> {
    const { argv, result } = await this.podman(['load', '-q', '-i', from], this.o.timeoutMs * 3);
    return runtimeRun(this.o.env, argv, result);
  }

  /** Saves the workload image to an archive (for another node's prepare). */
  async saveImage(to: string): Promise<RuntimeRun> {
    await this.o.env.remove(to); // podman 5.8 refuses to write a docker-archive over an existing file
    const { argv, result } = await this.podman(['save', '-q', '-o', to, WORKLOAD_IMAGE], this.o.timeoutMs * 3);
    return runtimeRun(this.o.env, argv, result);
  }

  async start(spec: ContainerSpec): Promise<RuntimeRun> {
    const own = spec.own;
    if (own) {
      const made = await this.importRootfs(own.rootfs);
      if (!made.ok) return made;
    }
    // The operator's own root filesystem (a pilot service): an image of it, its user, and the node's network, as runc's and crun's containers have it.
    const what = own
      ? // `--env NAME` takes the value from podman's own environment: a service's secret is never on a command line.
        ['--network', 'host', '--user', `${own.uid}:${own.gid}`, ...Object.keys(own.env).flatMap((k) => ['--env', k]), pilotImage(own.rootfs), ...own.command]
      : ['--network', 'bridge', WORKLOAD_IMAGE, `/cc/${spec.workload}`, ...spec.args];
    const { argv, result } = await this.podman(['run', '-d', '--name', spec.id, '--ulimit', 'host', '--cgroup-parent', `/${CGROUP_PARENT}/${this.o.tag}`, ...what], this.o.timeoutMs, own?.env ?? {});
    return runtimeRun(this.o.env, argv, result);
  }

  async lines(id: string): Promise<string[]> {
    const r = await this.o.env.exec([...this.global, 'logs', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  }

  async signal(id: string, sig: string): Promise<boolean> {
    const r = await this.o.env.exec([...this.global, 'kill', '--signal', sig, id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    return r.exitCode === 0;
  }

  async state(id: string): Promise<ContainerState> {
    const r = await this.o.env.exec([...this.global, 'inspect', '--format', '{{.State.Status}}', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    if (r.exitCode !== 0) return 'gone';
    return r.stdout.trim() === 'running' ? 'running' : 'stopped';
  }

  /** Where podman keeps a container's checkpoint, CRIU logs and stats (its "userdata" directory). */
  async staticDir(id: string): Promise<string | undefined> {
    const r = await this.o.env.exec([...this.global, 'inspect', '--format', '{{.StaticDir}}', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  }

  async checkpointImages(id: string): Promise<string | undefined> {
    const dir = await this.staticDir(id);
    return dir ? `${dir}/checkpoint` : undefined;
  }

  async checkpoint(id: string, c: CheckpointOptions): Promise<RuntimeRun> {
    const args = ['container', 'checkpoint', '--print-stats'];
    if (c.leaveRunning) args.push('--leave-running');
    if (c.tcpEstablished) args.push('--tcp-established');
    if (c.fileLocks) args.push('--file-locks');
    if (c.preDump) args.push('--pre-checkpoint');
    if (c.parentImageDir) args.push('--with-previous');
    if (c.exportTo) args.push('--export', c.exportTo, '--compress', 'gzip');
    args.push(id);
    const dir = await this.staticDir(id);
    const { argv, result } = await this.podman(args);
    const run = await runtimeRun(this.o.env, argv, result, dir && !(result.exitCode === 0) ? [`${dir}/${c.preDump ? 'pre-dump' : 'dump'}.log`] : []);
    return withPrintedStats(run);
  }

  async restore(id: string, r: RestoreOptions): Promise<RuntimeRun> {
    const args = ['container', 'restore', '--print-stats'];
    if (r.tcpEstablished) args.push('--tcp-established');
    if (r.fileLocks) args.push('--file-locks');
    // The archive names the container (the same ID on every node): podman refuses --name with --tcp-established.
    if (r.importFrom) args.push('--import', r.importFrom);
    else args.push(id);
    const { argv, result } = await this.podman(args);
    const dir = result.exitCode === 0 ? undefined : await this.staticDir(id);
    return withPrintedStats(await runtimeRun(this.o.env, argv, result, dir ? [`${dir}/restore.log`] : []));
  }

  async addFile(id: string, from: string, to: string): Promise<RuntimeRun> {
    const { argv, result } = await this.podman(['cp', from, `${id}:${to}`]);
    return runtimeRun(this.o.env, argv, result);
  }

  async changedPaths(id: string): Promise<string[]> {
    const r = await this.o.env.exec([...this.global, 'diff', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    return r.exitCode === 0 ? r.stdout.split('\n').map((l) => l.replace(/^[ACD]\s+/, '').trim()).filter(Boolean) : [];
  }

  execIn(id: string, argv: readonly string[], o: { user?: string | undefined; timeoutMs: number; signal?: AbortSignal | undefined }): Promise<ExecResult> {
    return this.o.env.exec([...this.global, 'exec', ...(o.user ? ['--user', o.user] : []), id, ...argv], { timeoutMs: o.timeoutMs, env: this.env(), signal: o.signal });
  }

  async pid(id: string): Promise<number | undefined> {
    const r = await this.o.env.exec([...this.global, 'inspect', '--format', '{{.State.Pid}}', id], { timeoutMs: this.o.timeoutMs, env: this.env() });
    const n = Number(r.stdout.trim());
    return r.exitCode === 0 && Number.isInteger(n) && n > 0 ? n : undefined;
  }

  async remove(id: string): Promise<void> {
    await this.o.env.exec([...this.global, 'rm', '-f', '-t', '0', id], { timeoutMs: this.o.timeoutMs, env: this.env() }).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    const g = this.global.map(shq).join(' ');
    await this.o.env
      .exec(['sh', '-c', `${g} rm -a -f -t 0 >/dev/null 2>&1; ${g} system reset -f >/dev/null 2>&1; ${cgroupSweep(this.o.tag)}`], { timeoutMs: this.o.timeoutMs * 3, env: this.env() })
      .catch(() => undefined);
  }
}

/** The local image a pilot's root filesystem becomes (named after its directory, which holds the pilot's name). */
function pilotImage(rootfs: string): string {
  return `localhost/criu-compat-pilot/${rootfs.split('/').filter(Boolean).pop()!.toLowerCase().replace(/[^a-z0-9._-]/g, '_')}:latest`;
}

/**
 * podman --print-stats prints one JSON object: podman's own and the OCI
 * runtime's durations and CRIU's figures, all in microseconds. Flattened:
 * podman_checkpoint_duration → podmanCheckpointDurationUs,
 * criu_statistics.frozen_time → criu.frozenTimeUs (per container, first one).
 */
export function parsePrintStats(stdout: string): Record<string, number> | undefined {
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(stdout.slice(start, end + 1));
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const unit = (k: string) => (/(duration|time)$/i.test(k) ? `${k}Us` : k);
  const walk = (o: unknown, prefix: string) => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      if (typeof v === 'number') out[`${prefix}${unit(camel(k))}`] = v;
      else if (Array.isArray(v)) walk(v[0], prefix);
      else if (v && typeof v === 'object') walk(v, k === 'criu_statistics' ? 'criu.' : prefix);
    }
  };
  walk(data, '');
  return Object.keys(out).length ? out : undefined;
}

function withPrintedStats(run: RuntimeRun): RuntimeRun {
  const stats = run.result.exitCode === 0 ? parsePrintStats(run.result.stdout) : undefined;
  return stats ? { ...run, printedStats: stats } : run;
}
