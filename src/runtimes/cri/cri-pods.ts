import type { Environment } from '../../environments/environment.ts';
import { CGROUP_PARENT } from '../../environments/cgroup-parent.ts';
import { cgroupSweep } from '../oci-runtime.ts';
import { importImage, startContainerd, stopContainerd, type ContainerdNode } from './containerd-node.ts';
import { containerdLayout, CRIU_CONFIG_ANNOTATION, PAUSE_IMAGE, WORKLOAD_IMAGE, WORKLOAD_REPO } from './containerd-config.ts';
import { CriCallError, CriClient } from './cri-client.ts';
import { ociArchiveScript } from './oci-archive.ts';
import type { CriRelay } from './cri-relay.ts';

/** The kubelet's side of one node, as far as the cri suite needs it: its images, pods and containers over CRI. */
export interface CriNodeOptions {
  env: Environment;
  /** Host path of the cc-pause binary. */
  pause: string;
  /** Host path of the cc-registry binary (the node's own registry). */
  registry: string;
  /** Workload name → its path inside the environment. */
  workloads: Record<string, string>;
  /** Unique per node: names its cgroups. */
  tag: string;
  timeoutMs: number;
  /** Bounds each bring-up step (building the images, starting containerd, importing, the pull): a VM under TCG takes far longer than one CRI call. */
  startTimeoutMs?: number;
  /** The pool's CRIU settings (criu.env): containerd's environment, inherited by the shim, runc and CRIU. */
  criuEnv?: Record<string, string>;
  /**
   * A node whose work directory has no host path (a VM): containerd also
   * serves CRI on TCP at this address of the run's network, and the client
   * dials the unix socket of the relay this starts (see cri-relay.ts).
   */
  remote?: { address: string; port: number; relay: () => Promise<CriRelay> };
}

/** A directory of the node bound into a container (CRI Mount). */
export interface PodMount {
  container_path: string;
  host_path: string;
  readonly: boolean;
}

export interface PodRef {
  podId: string;
  name: string;
  config: Record<string, unknown>;
}

/**
 * containerd in a node with the harness's two images imported (pause and the
 * workload image, both OCI archives made in the node) and a CRI client on
 * its socket. Pods get their own network (the bridge CNI), a PID namespace
 * per container (the kubelet's default) and a cgroup under /criu-compat.
 */
export class CriPods {
  readonly o: CriNodeOptions;
  node!: ContainerdNode;
  client!: CriClient;
  private seq = 0;
  private relay: CriRelay | undefined;
  /** The workload image as CRI pulled it (its image ID). */
  workloadRef = '';

  constructor(o: CriNodeOptions) {
    this.o = o;
  }

  get dir(): string {
    return `${this.o.env.workDir}/cri`;
  }

  /** Builds the two image archives, starts containerd and imports them; throws with what failed. */
  async start(): Promise<void> {
    const { env } = this.o;
    const startMs = Math.max(this.o.startTimeoutMs ?? 0, this.o.timeoutMs);
    const img = `${env.workDir}/cri-images`;
    await env.makeDir(`${img}/pause`);
    await env.makeDir(`${img}/workload/cc`);
    await env.makeDir(`${img}/workload/tmp`);
    await env.copyIn(this.o.pause, `${img}/pause/cc-pause`);
    await env.copyIn(this.o.registry, `${img}/cc-registry`);
    const layout = containerdLayout(this.dir);
    const cps = Object.entries(this.o.workloads).map(([n, p]) => `cp ${p} ${img}/workload/cc/${n}`);
    const make = [
      `chmod 1777 ${img}/workload/tmp`,
      ...cps,
      ociArchiveScript({ rootDir: `${img}/pause`, out: `${img}/pause.tar`, name: PAUSE_IMAGE, entrypoint: ['/cc-pause'] }),
      ociArchiveScript({ rootDir: `${img}/workload`, out: `${img}/workload.tar`, name: WORKLOAD_IMAGE, entrypoint: ['/cc/counter'], registry: { root: layout.registry, repo: WORKLOAD_REPO, tag: '1' } }),
    ];
    const r = await env.exec(['sh', '-c', make.join('\n')], { timeoutMs: startMs });
    if (r.exitCode !== 0) throw new Error(`building the pause and workload images in the node failed (${r.timedOut ? `timed out after ${Math.round(startMs / 1000)} s` : `exit ${r.exitCode}`}): ${r.stderr.trim().slice(-300)}`);
    const remote = this.o.remote;
    const tcp = remote ? { tcpAddress: `${remote.address}:${remote.port}` } : {};
    this.node = await startContainerd(env, { dir: this.dir, timeoutMs: startMs, commandTimeoutMs: startMs, ...(this.o.criuEnv ? { env: this.o.criuEnv } : {}), ...tcp });
    for (const a of ['pause.tar', 'workload.tar']) {
      const i = await importImage(this.node, `${img}/${a}`, startMs);
      if (i.exitCode !== 0) throw new Error(`ctr images import ${a} failed: ${(i.stderr || i.stdout).trim().slice(-300)}`);
    }
    if (remote) this.relay = await remote.relay();
    else if (!env.hostPath) throw new Error(`the CRI client reaches containerd's socket through the host path of the work directory, which backend ${env.backend} has not, or over the run's network, which this node has no address on`);
    this.client = new CriClient({ socket: this.relay ? this.relay.socket : env.hostPath!(this.node.layout.socket) });
    // The node's registry, then a CRI pull of the imported workload image from it (its content is local already): the
    // image gets the repository digest a kubelet's images have, which containerd's restore pulls the base image by.
    await env.spawnDetached([`${img}/cc-registry`, '5000', layout.registry], { outFile: `${this.dir}/registry.log` });
    const end = Date.now() + startMs;
    while (!(await env.readFile(`${this.dir}/registry.log`).catch(() => Buffer.alloc(0))).toString().includes('listening')) {
      if (Date.now() > end) throw new Error(`cc-registry did not listen in the node: ${(await env.readFile(`${this.dir}/registry.log`).catch(() => Buffer.alloc(0))).toString().trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const pulled = await this.client.call<{ image_ref: string }>('PullImage', { image: { image: WORKLOAD_IMAGE } }, startMs);
    this.workloadRef = pulled.image_ref;
  }

  /** RunPodSandbox: a new pod with its own network namespace on the CNI bridge. */
  async runPod(name: string): Promise<PodRef> {
    const n = `${name}-${++this.seq}`;
    const config = {
      metadata: { name: n, uid: `uid-${this.o.tag}-${n}`, namespace: 'criu-compat', attempt: 0 },
      hostname: n,
      log_directory: `${this.node.layout.logs}/${n}`,
      linux: { cgroup_parent: `/${CGROUP_PARENT}/${this.o.tag}/${n}`, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const r = await this.client.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, this.o.timeoutMs);
    return { podId: r.pod_sandbox_id, name: n, config };
  }

  /** CreateContainer + StartContainer of IMAGE (the workload image, or a checkpoint archive to restore from); the container names the node's CRIU configuration file (tcp-established, file-locks). */
  async createAndStart(pod: PodRef, name: string, image: string, argv: string[], mounts: PodMount[] = []): Promise<{ id: string; createMs: number; startMs: number }> {
    const t0 = Date.now();
    const c = await this.client.call<{ container_id: string }>(
      'CreateContainer',
      { pod_sandbox_id: pod.podId, config: { metadata: { name }, image: { image }, command: argv.slice(0, 1), args: argv.slice(1), log_path: `${name}.log`, mounts, annotations: { [CRIU_CONFIG_ANNOTATION]: this.node.layout.criuConfig }, linux: { security_context: { namespace_options: { pid: 'CONTAINER' } } } }, sandbox_config: pod.config },
      this.o.timeoutMs,
    );
    const t1 = Date.now();
    await this.client.call('StartContainer', { container_id: c.container_id }, this.o.timeoutMs);
    return { id: c.container_id, createMs: t1 - t0, startMs: Date.now() - t1 };
  }

  /** The pod's address on the CNI bridge (PodSandboxStatus). */
  async podAddress(pod: PodRef): Promise<string> {
    const r = await this.client.call<{ status?: { network?: { ip?: string } } }>('PodSandboxStatus', { pod_sandbox_id: pod.podId }, this.o.timeoutMs);
    const ip = r.status?.network?.ip;
    if (!ip) throw new Error(`pod ${pod.name} has no address on the CNI bridge (PodSandboxStatus)`);
    return ip;
  }

  /** The container's state and its init's PID in the node (ContainerStatus, verbose). */
  async status(id: string): Promise<{ state: string; pid?: number }> {
    const r = await this.client.call<{ status?: { state: string }; info?: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true }, this.o.timeoutMs);
    const info = r.info?.['info'];
    const pid = info ? (JSON.parse(info) as { pid?: number }).pid : undefined;
    return { state: r.status?.state ?? 'UNKNOWN', ...(pid ? { pid } : {}) };
  }

  /** The workload's protocol lines from the container's CRI log (timestamp stream tag line). */
  async lines(pod: PodRef, name: string): Promise<string[]> {
    const buf = await this.o.env.readFile(`${pod.config['log_directory'] as string}/${name}.log`).catch(() => Buffer.alloc(0));
    return buf
      .toString('utf8')
      .split('\n')
      .map((l) => /^\S+ (?:stdout|stderr) [FP] (.*)$/.exec(l)?.[1])
      .filter((l): l is string => l !== undefined && l !== '');
  }

  /** Sends a signal to the container's init (CRI has no signal call: the kubelet never needs one). */
  async signal(id: string, sig: string): Promise<boolean> {
    const { pid } = await this.status(id);
    if (!pid) return false;
    const r = await this.o.env.exec(['kill', `-${sig}`, String(pid)], { timeoutMs: this.o.timeoutMs });
    return r.exitCode === 0;
  }

  /** Removes a pod (StopPodSandbox + RemovePodSandbox, which take its containers); never throws. */
  async removePod(pod: PodRef): Promise<void> {
    await this.client.call('StopPodSandbox', { pod_sandbox_id: pod.podId }, this.o.timeoutMs).catch(() => undefined);
    await this.client.call('RemovePodSandbox', { pod_sandbox_id: pod.podId }, this.o.timeoutMs).catch(() => undefined);
  }

  /** Every pod removed through CRI, then containerd stopped; returns what was left behind (processes, mounts, netns, interfaces). */
  async stop(): Promise<string[]> {
    if (this.client) {
      const pods = await this.client.call<{ items: { id: string }[] }>('ListPodSandbox', {}, this.o.timeoutMs).catch(() => ({ items: [] }));
      for (const p of pods.items) await this.removePod({ podId: p.id, name: '', config: {} });
      this.client.close();
    }
    await this.relay?.dispose();
    const left = this.node ? await stopContainerd(this.node, this.o.timeoutMs) : [];
    await this.o.env.exec(['sh', '-c', cgroupSweep(this.o.tag)], { timeoutMs: this.o.timeoutMs }).catch(() => undefined);
    return left;
  }
}

/** "UNIMPLEMENTED" when the runtime does not implement a CRI call. */
export function isUnimplemented(e: unknown): e is CriCallError {
  return e instanceof CriCallError && e.codeName === 'UNIMPLEMENTED';
}
