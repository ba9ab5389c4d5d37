/**
 * Network continuity of a migration (workload tcp-external): an established
 * TCP connection whose peer lives outside the migrated tree, on a third node
 * of the run's network (a client node), and whose own end is bound to a
 * service address — a secondary address of the run's /24 that moves with
 * the workload, as an operator moves a service IP.
 *
 * The steps, called by attemptMigration at fixed points:
 * open()      the address on the source, the echo peer on a client node, its
 *             "ADDR PORT" in the workload's data directory (CC_BIND for the workload);
 * handOver()  after the dump: CRIU's network lock (the iptables rules the dump
 *             left on the source for this connection) installed on the
 *             destination, the address off the source, on the destination
 *             ("move") or nowhere ("stay"), the client's neighbours forgotten;
 * backToSource()  the playbook's fallback: the address back where it was;
 * close()     the peer and its node gone, the address and the lock rules off both nodes.
 * On the diagonal (one node) the address never moves: that is the plain round trip.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientNode, type ClientProcess } from '../environments/network/client-node.ts';
import { addressOf, claimHost, type NodeNetworkSpec } from '../environments/network/node-network.ts';
import type { Environment } from '../environments/environment.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { poll } from '../util/wait-until.ts';

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
  serviceAddress: 'move' | 'stay';
  /** A root-only host directory for the peer's files (made here, removed by close()). */
  hostDir: string;
}

interface Side {
  pool: string;
  env: Environment;
}

/** Why the connection's setup or hand-over could not be done: a harness or environment problem, never the tuple's verdict. */
export class NetworkContinuityError extends Error {
  override name = 'NetworkContinuityError';
}

const SH_MS = 15_000;
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ExternalPeer {
  /** The service address the workload's end is bound to. */
  address: string | undefined;
  private client: ClientNode | undefined;
  private peer: ClientProcess | undefined;
  private peerEnded = false;
  private readonly on = new Set<Environment>();
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

  private get same(): boolean {
    return this.src.env === this.dst.env;
  }

  /** Sets up the service address and the peer; returns the workload's extra environment (CC_BIND). */
  async open(timeoutMs: number): Promise<Record<string, string>> {
    const spec = this.o.network;
    if (!spec) throw new NetworkContinuityError(`${EXTERNAL_TCP_WORKLOAD} needs a peer on a third node, but the run made no node network (a harness bug: pairs with ${EXTERNAL_TCP_WORKLOAD} ask for one)`);
    for (const s of [this.src, this.dst]) if (!s.env.network) throw new NetworkContinuityError(`${s.pool} has no interface on the run's node network (a harness bug: its session was opened without plan.network)`);
    await mkdirPrivate(this.o.hostDir);
    this.address = addressOf(spec, await claimHost(spec, `service address ${this.dir}`));
    await this.src.env.network!.addAddress(this.address);
    this.on.add(this.src.env);
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
    if (this.same) return;
    const addr = this.address!;
    const rules = await lockRules(this.src.env, addr);
    if (!rules.length)
      throw new NetworkContinuityError(`after the dump, ${this.src.pool} holds no iptables lock rule of CRIU's for ${addr} (CRIU locked the connection some other way, e.g. --network-lock nftables): the harness carries only the iptables lock, so it cannot move this connection safely`);
    // The lock first: a retransmission from the peer that reached the destination before the socket is repaired would be answered with a reset (seen without the lock).
    await iptablesRestore(this.dst.env, rules, `installing CRIU's network lock (${rules.length} rules) on ${this.dst.pool}`);
    await this.src.env.network!.removeAddress(addr);
    this.on.delete(this.src.env);
    if (this.o.serviceAddress === 'move') {
      await this.dst.env.network!.addAddress(addr);
      this.on.add(this.dst.env);
    }
    this.log(`[${this.src.pool}] iptables-save: ${rules.length} CRIU lock rule${rules.length === 1 ? '' : 's'} for ${addr} → [${this.dst.pool}] iptables-restore --noflush`);
    this.log(this.o.serviceAddress === 'move' ? `service address ${addr}: off ${this.src.pool}, on ${this.dst.pool}` : `service address ${addr}: off ${this.src.pool}, not given to ${this.dst.pool} (serviceAddress: stay)`);
    await this.client!.flushNeighbours();
  }

  /** What the cell's reason adds when the restore on the destination failed. */
  explain(): string {
    if (this.same || this.o.serviceAddress === 'move') return '';
    return ` (the connection's service address ${this.address} was not given to ${this.dst.pool}: serviceAddress stay)`;
  }

  /** The playbook's fallback restores on the source: the address goes back there first. */
  async backToSource(): Promise<void> {
    if (this.same) return;
    const addr = this.address!;
    if (this.on.has(this.dst.env)) {
      await this.dst.env.network!.removeAddress(addr);
      this.on.delete(this.dst.env);
    }
    if (!this.on.has(this.src.env)) {
      await this.src.env.network!.addAddress(addr);
      this.on.add(this.src.env);
    }
    this.log(`service address ${addr}: back on ${this.src.pool} for the fallback`);
    await this.client!.flushNeighbours();
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
    if (this.address)
      for (const env of new Set([this.src.env, this.dst.env])) {
        const here = await env.network?.addresses().catch(() => [] as string[]);
        if (here?.includes(this.address)) await env.network!.removeAddress(this.address).catch(() => undefined);
        const left = await lockRules(env, this.address).catch(() => [] as string[]);
        if (left.length) await iptablesRestore(env, left.map((r) => r.replace(/^-A /, '-D ')), 'removing CRIU lock rules').catch(() => undefined);
      }
    await removeTree(this.o.hostDir);
  }
}

/** The rules CRIU's iptables network lock holds for connections of ADDR (DROP unless marked 0xc114), as iptables-save prints them. */
export async function lockRules(env: Environment, addr: string): Promise<string[]> {
  const r = await env.exec(['sh', '-c', `export ${PATH}; iptables-save -t filter`], { timeoutMs: SH_MS });
  if (r.exitCode !== 0) throw new NetworkContinuityError(`${env.id}: iptables-save failed (exit ${r.exitCode}): ${r.stderr.trim()}${r.exitCode === 127 ? ' (the node image needs iptables: CRIU locks the network with it)' : ''}`);
  return r.stdout.split('\n').filter((l) => /^-A (INPUT|OUTPUT) /.test(l) && /--mark 0xc114\b/i.test(l) && l.includes(`${addr}/32`) && / -j DROP\b/.test(l));
}

async function iptablesRestore(env: Environment, rules: readonly string[], what: string): Promise<void> {
  const r = await env.exec(['sh', '-c', `export ${PATH}; printf '%s\\n' "$@" | iptables-restore --noflush`, 'sh', '*filter', ...rules, 'COMMIT'], { timeoutMs: SH_MS });
  if (r.exitCode !== 0) throw new NetworkContinuityError(`${env.id}: ${what}: iptables-restore failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
}
