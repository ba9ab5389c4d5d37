/**
 * Network continuity of a migration (workload tcp-external): an established
 * TCP connection whose peer lives outside the migrated tree, on a third node
 * of the run's network (a client node), and whose own end is bound to a
 * service address that moves with the workload (service-address.ts).
 *
 * The steps, called by attemptMigration at fixed points:
 * open()      the address on the source, the echo peer on a client node, its
 *             "ADDR PORT" in the workload's data directory (CC_BIND for the workload);
 * handOver()  after the dump: the service address handed over (its lock, move or stay);
 * backToSource()  the playbook's fallback: the address back where it was;
 * close()     the peer and its node gone, the address and the lock rules off both nodes.
 * On the diagonal (one node) the address never moves: that is the plain round trip.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientNode, type ClientProcess } from '../environments/network/client-node.ts';
import type { NodeNetworkSpec } from '../environments/network/node-network.ts';
import type { Environment } from '../environments/environment.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { poll } from '../util/wait-until.ts';
import { NetworkContinuityError, ServiceAddress, type AddressPolicy } from './service-address.ts';

/** The workload whose migrations carry a connection to a third node. */
export const EXTERNAL_TCP_WORKLOAD = 'tcp-external';

export interface ExternalPeerOptions {
  /** The run's node network (plan.network); absent: the harness made none, an ERROR. */
  network: NodeNetworkSpec | undefined;
  /** cc-guard (plan.natives.guard): the peer dies with the harness. */
  guard: string;
  /** The workload's host binary: the client node runs host binaries. */
  peerBinary: string;
  /** move: the destination gets the service address; stay: it does not. */
  serviceAddress: AddressPolicy;
  /** A root-only host directory for the peer's files (made here, removed by close()). */
  hostDir: string;
}

interface Side {
  pool: string;
  env: Environment;
}

export class ExternalPeer {
  /** The service address the workload's end is bound to. */
  address: string | undefined;
  private client: ClientNode | undefined;
  private peer: ClientProcess | undefined;
  private peerEnded = false;
  private moved: ServiceAddress | undefined;
  private closed = false;
  private readonly o: ExternalPeerOptions;
  private readonly src: Side;
  private readonly dst: Side;
  private readonly dir: string;
  private readonly log: (line: string) => void;

  constructor(o: ExternalPeerOptions, src: Side, dst: Side, dir: string, log: (line: string) => void) {
    this.o = o;
    this.src = src;
    this.dst = dst;
    this.dir = dir;
    this.log = log;
  }

  /** Sets up the service address and the peer; returns the workload's extra environment (CC_BIND). */
  async open(timeoutMs: number): Promise<Record<string, string>> {
    const spec = this.o.network;
    if (!spec) throw new NetworkContinuityError(`${EXTERNAL_TCP_WORKLOAD} needs a peer on a third node, but the run made no node network (a harness bug: pairs with ${EXTERNAL_TCP_WORKLOAD} ask for one)`);
    await mkdirPrivate(this.o.hostDir);
    this.moved = new ServiceAddress(spec, this.src, this.dst, this.o.serviceAddress, this.log);
    this.address = await this.moved.claim(`service address ${this.dir}`);
    this.client = await ClientNode.start(spec, `${EXTERNAL_TCP_WORKLOAD} peer`, { guard: this.o.guard });
    this.peer = await this.client.spawn([this.o.peerBinary, '--serve', this.client.address, this.o.hostDir], { outFile: join(this.o.hostDir, 'peer.out') });
    void this.peer.exited.then(() => (this.peerEnded = true));
    const portFile = join(this.o.hostDir, 'tcp-peer.port');
    const said = await poll(async () => ((await readFile(portFile, 'utf8').catch(() => '')).trim() || (this.peerEnded ? null : undefined)), { intervalMs: 20, timeoutMs });
    if (!said) throw new NetworkContinuityError(`the ${EXTERNAL_TCP_WORKLOAD} peer on client node ${this.client.address} ${said === null ? 'exited' : `wrote no address within ${timeoutMs} ms`}: ${(await this.peerLines()).join(' | ') || 'no output'}`);
    await this.src.env.writeFile(`${this.dir}/data/tcp-peer.port`, `${said}\n`, 0o600);
    this.log(`[client ${this.client.address}] ${EXTERNAL_TCP_WORKLOAD} --serve ${this.client.address} (echo peer on a third node, listening at ${said.replace(' ', ':')}); service address ${this.address} on ${this.src.pool}`);
    return { CC_BIND: this.address };
  }

  /** After the dump, before the restore: the lock, the address and the client's neighbours, as an operator moves a service. */
  async handOver(): Promise<void> {
    await this.moved!.handOver(this.client!);
  }

  /** What the cell's reason adds when the restore on the destination failed. */
  explain(): string {
    return this.moved?.explain() ?? '';
  }

  /** The playbook's fallback restores on the source: the address goes back there first. */
  async backToSource(): Promise<void> {
    await this.moved!.backToSource(this.client!);
  }

  /**
   * A fallback that failed after the destination's restore had failed late: CRIU says when it
   * had already unlocked the network (e.g. capabilities are restored after that); the restored
   * connection then went live and was killed there, the peer reset its end, and no node can
   * bring it back. The fallback's reason says so.
   */
  explainFallback<F extends { status: string; reason: string }>(fallback: F, destinationLog: string): F {
    if (fallback.status === 'PASS' || !/The Network was unlocked so some data or a connection may have been lost/.test(destinationLog)) return fallback;
    return { ...fallback, reason: `${fallback.reason} — the restore on ${this.dst.pool} failed after CRIU had unlocked the network ("The Network was unlocked so some data or a connection may have been lost"): the connection went live there and died with the killed tree, the peer reset it, and it is lost on every node` };
  }

  /** The peer's own complaint (it checks every byte it receives): its FAIL line, if any. */
  async peerFailure(): Promise<string | undefined> {
    const said = (await this.peerLines()).find((l) => /^FAIL\b/.test(l));
    return said?.replace(/^FAIL:?\s*/, '');
  }

  async peerLines(): Promise<string[]> {
    return (await readFile(join(this.o.hostDir, 'peer.out'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  }

  /** Everything undone, whatever happened; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.peer?.kill();
    await this.client?.dispose().catch(() => undefined);
    await this.moved?.close();
    await removeTree(this.o.hostDir);
  }
}
