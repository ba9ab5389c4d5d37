import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientNode, type ClientProcess } from '../environments/network/client-node.ts';
import type { NodeNetworkSpec } from '../environments/network/node-network.ts';
import type { Environment } from '../environments/environment.ts';
import { POD_SUBNET } from '../runtimes/cri/containerd-config.ts';
import type { PodMount } from '../runtimes/cri/cri-pods.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { poll } from '../util/wait-until.ts';
import { NetworkContinuityError } from './service-address.ts';

/**
 * tcp-external through CRI: the workload in a pod holds a TCP connection to
 * an echo peer outside the pod and outside its node, on a client node of the
 * run's network. The pod's packets leave through the node (its CNI bridge is
 * the pod's gateway; the node forwards), and the client reaches the pod
 * subnet through the node that runs it (a route, no NAT: the peer sees the
 * pod's own address). The peer's "ADDR PORT" reaches the container through a
 * node directory bound in read-only. Before CheckpointContainer (which leaves
 * the container running) the node drops the pod's forwarded packets, so the
 * source's copy can neither advance nor close the connection once the
 * checkpoint is taken; then the client's route moves to the destination node.
 */
export interface CriPeerOptions {
  network: NodeNetworkSpec | undefined;
  guard: string;
  /** The tcp-external host binary (the client node runs host binaries). */
  peerBinary: string;
  /** A root-only host directory for the peer's files. */
  hostDir: string;
  /** A directory at the same path on both nodes, bound into the container as /peer. */
  nodeDir: string;
}

const SH_MS = 15_000;
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where the container finds the peer's address. */
const PEER_MOUNT = '/peer';

export class CriPeer {
  private client: ClientNode | undefined;
  private peer: ClientProcess | undefined;
  private ended = false;
  private dropped: { env: Environment; address: string } | undefined;
  /** The checkpointed pod's address (known once cut off). */
  podAddress = '';
  private readonly o: CriPeerOptions;
  private readonly log: (line: string) => void;

  constructor(o: CriPeerOptions, log: (line: string) => void) {
    this.o = o;
    this.log = log;
  }

  /** The container's arguments and mount for this peer. */
  get extras(): { args: string[]; mounts: PodMount[] } {
    return { args: [PEER_MOUNT], mounts: [{ container_path: PEER_MOUNT, host_path: this.o.nodeDir, readonly: true }] };
  }

  /** The peer on a client node; its address file on NODES (where the container may run); the client routed to the pod subnet via SOURCE. */
  async open(source: Environment, nodes: readonly Environment[], timeoutMs: number): Promise<void> {
    const spec = this.o.network;
    if (!spec) throw new NetworkContinuityError('tcp-external needs a peer on a client node, but the run made no node network (a harness bug: pairs with tcp-external ask for one)');
    if (!source.network) throw new NetworkContinuityError(`${source.id} has no interface on the run's node network`);
    await mkdirPrivate(this.o.hostDir);
    this.client = await ClientNode.start(spec, 'cri tcp-external peer', { guard: this.o.guard });
    this.peer = await this.client.spawn([this.o.peerBinary, '--serve', this.client.address, this.o.hostDir], { outFile: join(this.o.hostDir, 'peer.out') });
    void this.peer.exited.then(() => (this.ended = true));
    const said = await poll(async () => ((await readFile(join(this.o.hostDir, 'tcp-peer.port'), 'utf8').catch(() => '')).trim() || (this.ended ? null : undefined)), { intervalMs: 20, timeoutMs });
    if (!said) throw new NetworkContinuityError(`the tcp-external peer on client node ${this.client.address} ${said === null ? 'exited' : `wrote no address within ${timeoutMs} ms`}: ${(await this.peerLines()).join(' | ') || 'no output'}`);
    for (const env of nodes) {
      await env.makeDir(this.o.nodeDir);
      await env.writeFile(`${this.o.nodeDir}/tcp-peer.port`, `${said}\n`, 0o644);
      await sh(env, 'sysctl -qw net.ipv4.ip_forward=1', 'letting the node forward its pods\' packets');
    }
    await this.routeVia(source);
    this.log(`[client ${this.client.address}] tcp-external --serve (echo peer outside the pod and its node, at ${said.replace(' ', ':')}); route ${POD_SUBNET} via ${source.network.address}`);
  }

  /** The client reaches the pod subnet through ENV's node. */
  async routeVia(env: Environment): Promise<void> {
    if (!env.network) throw new NetworkContinuityError(`${env.id} has no interface on the run's node network`);
    const r = await this.client!.exec(['ip', 'route', 'replace', POD_SUBNET, 'via', env.network.address], { timeoutMs: SH_MS });
    if (r.exitCode !== 0) throw new NetworkContinuityError(`routing ${POD_SUBNET} via ${env.network.address} on the client node failed: ${r.stderr.trim()}`);
    await this.client!.flushNeighbours();
  }

  /** The node stops forwarding the pod's packets (either way): its running copy can no longer reach the peer. */
  async cutOff(env: Environment, address: string): Promise<void> {
    this.podAddress = address;
    await sh(env, `iptables -I FORWARD -s ${address} -j DROP && iptables -I FORWARD -d ${address} -j DROP`, `cutting pod ${address} off`);
    this.dropped = { env, address };
    this.log(`[${env.id}] iptables -I FORWARD -s/-d ${address} -j DROP (before CheckpointContainer, which leaves the container running)`);
  }

  /** The peer's own complaint (it checks every byte it receives). */
  async peerFailure(): Promise<string | undefined> {
    return (await this.peerLines()).find((l) => /^FAIL\b/.test(l))?.replace(/^FAIL:?\s*/, '');
  }

  async peerLines(): Promise<string[]> {
    return (await readFile(join(this.o.hostDir, 'peer.out'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  }

  /** Everything undone; never throws. */
  async close(): Promise<void> {
    this.peer?.kill();
    await this.client?.dispose().catch(() => undefined);
    if (this.dropped) await sh(this.dropped.env, `iptables -D FORWARD -s ${this.dropped.address} -j DROP; iptables -D FORWARD -d ${this.dropped.address} -j DROP; true`, 'removing the drop rules').catch(() => undefined);
    await removeTree(this.o.hostDir);
  }
}

async function sh(env: Environment, script: string, what: string): Promise<void> {
  const r = await env.exec(['sh', '-c', `export ${PATH}; ${script}`], { timeoutMs: SH_MS });
  if (r.exitCode !== 0) throw new NetworkContinuityError(`${env.id}: ${what}: exit ${r.exitCode}: ${r.stderr.trim()}`);
}
