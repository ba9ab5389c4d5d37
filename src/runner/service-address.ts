/**
 * A service address: a secondary address of the run's /24 that a migrated
 * service is reached at, moved from node to node as an operator moves a
 * service IP. Its clients live on a client node (a third node of the run's
 * network), their established connections are dumped and restored with
 * --tcp-established, and what moves with the address is CRIU's network lock
 * (the iptables rules a dump leaves on the source for those connections).
 * Used by the migration matrix (tcp-external's echo peer) and by pilot
 * migrations (a held client).
 *
 * claim()        the address on the source (before the service starts);
 * handOver()     after the dump, before the restore: the lock installed on the
 *                destination, the address off the source, on the destination
 *                ("move") or nowhere ("stay"), the client's neighbours forgotten;
 * backToSource() the playbook's fallback: the address back where it was;
 * close()        the address and the lock rules off both nodes; never throws.
 * On one node (source = destination) the address never moves.
 */
import type { ClientNode } from '../environments/network/client-node.ts';
import { addressOf, claimHost, type NodeNetworkSpec } from '../environments/network/node-network.ts';
import type { Environment } from '../environments/environment.ts';

/** move: the destination gets the service address; stay: it does not. */
export type AddressPolicy = 'move' | 'stay';

/** Why the address or the connection's hand-over could not be set up: a harness or environment problem, never the tuple's verdict. */
export class NetworkContinuityError extends Error {
  override name = 'NetworkContinuityError';
}

/** One end of the move: a pool's node. */
export interface AddressSide {
  pool: string;
  env: Environment;
}

const SH_MS = 15_000;
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ServiceAddress {
  /** The address, once claimed. */
  address: string | undefined;
  private readonly on = new Set<Environment>();
  private closed = false;
  private readonly spec: NodeNetworkSpec;
  private readonly src: AddressSide;
  private readonly dst: AddressSide;
  private readonly policy: AddressPolicy;
  private readonly log: (line: string) => void;

  constructor(spec: NodeNetworkSpec, src: AddressSide, dst: AddressSide, policy: AddressPolicy, log: (line: string) => void) {
    this.spec = spec;
    this.src = src;
    this.dst = dst;
    this.policy = policy;
    this.log = log;
  }

  private get same(): boolean {
    return this.src.env === this.dst.env;
  }

  /** Claims an address of the run's /24 for WHAT and gives it to the source; both nodes must be on the network. */
  async claim(what: string): Promise<string> {
    for (const s of [this.src, this.dst]) if (!s.env.network) throw new NetworkContinuityError(`${s.pool} has no interface on the run's node network (a harness bug: its session was opened without plan.network)`);
    this.address = addressOf(this.spec, await claimHost(this.spec, what));
    await this.src.env.network!.addAddress(this.address);
    this.on.add(this.src.env);
    return this.address;
  }

  /**
   * After the dump, before the restore: the lock, the address and the client's neighbours, as an operator moves a service.
   * connections: an established connection to the address was dumped (CRIU must have locked it); false: only the address moves.
   */
  async handOver(client: ClientNode, connections = true): Promise<void> {
    if (this.same) return;
    const addr = this.address!;
    const rules = connections ? await lockRules(this.src.env, addr) : [];
    if (connections && !rules.length)
      throw new NetworkContinuityError(`after the dump, ${this.src.pool} holds no iptables lock rule of CRIU's for ${addr} (no established connection was dumped, or CRIU locked it some other way, e.g. --network-lock nftables): the harness carries only the iptables lock, so it cannot move this connection safely`);
    // The lock first: a retransmission from the client that reached the destination before the socket is repaired would be answered with a reset (seen without the lock).
    if (rules.length) await iptablesRestore(this.dst.env, rules, `installing CRIU's network lock (${rules.length} rules) on ${this.dst.pool}`);
    await this.src.env.network!.removeAddress(addr);
    this.on.delete(this.src.env);
    if (this.policy === 'move') {
      await this.dst.env.network!.addAddress(addr);
      this.on.add(this.dst.env);
    }
    if (rules.length) this.log(`[${this.src.pool}] iptables-save: ${rules.length} CRIU lock rule${rules.length === 1 ? '' : 's'} for ${addr} → [${this.dst.pool}] iptables-restore --noflush`);
    this.log(this.policy === 'move' ? `service address ${addr}: off ${this.src.pool}, on ${this.dst.pool}` : `service address ${addr}: off ${this.src.pool}, not given to ${this.dst.pool} (serviceAddress: stay)`);
    await client.flushNeighbours();
  }

  /** What a failure's reason adds when the destination never got the address. */
  explain(): string {
    if (this.same || this.policy === 'move') return '';
    return ` (the connection's service address ${this.address} was not given to ${this.dst.pool}: serviceAddress stay)`;
  }

  /** The playbook's fallback restores on the source: the address goes back there first. */
  async backToSource(client: ClientNode): Promise<void> {
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
    await client.flushNeighbours();
  }

  /** The address and CRIU's lock rules for it off both nodes, whatever happened; never throws. */
  async close(): Promise<void> {
    if (this.closed || !this.address) return;
    this.closed = true;
    for (const env of new Set([this.src.env, this.dst.env])) {
      const here = await env.network?.addresses().catch(() => [] as string[]);
      if (here?.includes(this.address)) await env.network!.removeAddress(this.address).catch(() => undefined);
      const left = await lockRules(env, this.address).catch(() => [] as string[]);
      if (left.length) await iptablesRestore(env, left.map((r) => r.replace(/^-A /, '-D ')), 'removing CRIU lock rules').catch(() => undefined);
    }
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
