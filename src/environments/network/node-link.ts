import { EnvironmentError } from '../../errors.ts';
import { poll } from '../../util/wait-until.ts';
import type { Environment } from '../environment.ts';
import { addressOf, claimHost, ip, macOf, tapName, vethName, type NodeAddress, type NodeNetworkSpec } from './node-network.ts';

/** The interface name a node sees, on every backend. */
export const NODE_IFACE = 'eth0';
const IP_MS = 10_000;

/**
 * A node's interface on the run's network, as a suite uses it: its address,
 * and secondary addresses added and removed inside the node (a migration's
 * service address moves from the source to the destination). Commands run
 * inside the node with the node image's own ip(8) (iproute2, which every
 * Debian node image with criu has).
 */
export class NodeLink implements NodeAddress {
  readonly address: string;
  readonly prefixLen: number;
  readonly iface: string;
  private readonly env: Environment;

  constructor(env: Environment, a: NodeAddress) {
    this.env = env;
    this.address = a.address;
    this.prefixLen = a.prefixLen;
    this.iface = a.iface;
  }

  /** The plain, serialisable part (for results and for the plan). */
  toJSON(): NodeAddress {
    return { address: this.address, prefixLen: this.prefixLen, iface: this.iface };
  }

  /** Adds ADDR (same /24) to the node's interface. */
  addAddress(addr: string): Promise<void> {
    return ipInside(this.env, ['addr', 'add', `${addr}/${this.prefixLen}`, 'dev', this.iface], `adding ${addr}`);
  }

  /** Removes ADDR from the node's interface. */
  removeAddress(addr: string): Promise<void> {
    return ipInside(this.env, ['addr', 'del', `${addr}/${this.prefixLen}`, 'dev', this.iface], `removing ${addr}`);
  }

  /** Does something in the node listen on TCP PORT (any address; its /proc/net/tcp and tcp6)? */
  async isListening(port: number): Promise<boolean> {
    const r = await this.env.exec(['cat', '/proc/net/tcp', '/proc/net/tcp6'], { timeoutMs: IP_MS });
    const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    // sl local_address rem_address st …: st 0A is LISTEN
    return r.stdout.split('\n').some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(hex) === true && f[3] === '0A';
    });
  }

  /**
   * Waits until something in the node listens on PORT (a page server, a lazy
   * dump serving its memory): true; false when stopIf() says the listener
   * will never come (its command ended) or timeoutMs passed.
   */
  async waitListening(port: number, o: { timeoutMs: number; stopIf?: () => boolean; signal?: AbortSignal | undefined }): Promise<boolean> {
    const r = await poll(async () => ((await this.isListening(port)) ? true : o.stopIf?.() ? false : undefined), { intervalMs: 50, timeoutMs: o.timeoutMs, signal: o.signal });
    return r === true;
  }

  /** The addresses the interface has now (inside the node). */
  async addresses(): Promise<string[]> {
    const r = await this.env.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', this.iface], { timeoutMs: IP_MS });
    if (r.exitCode !== 0) throw new EnvironmentError(`${this.env.id}: ip addr show ${this.iface} failed: ${r.stderr.trim()}`);
    return [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
  }
}

/** Runs ip(8) inside ENV; throws EnvironmentError naming the node when it fails. */
export async function ipInside(env: Environment, args: readonly string[], what: string): Promise<void> {
  const r = await env.exec(['ip', ...args], { timeoutMs: IP_MS });
  if (r.exitCode !== 0)
    throw new EnvironmentError(
      `${env.id}: ${what} failed: ip ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}${r.exitCode === 127 ? ' (the node image has no ip: install iproute2 in it)' : ''}`,
    );
}

/** Gives the node's interface its address and brings it up (inside the node). */
export async function configureInside(env: Environment, a: NodeAddress): Promise<NodeLink> {
  await ipInside(env, ['link', 'set', a.iface, 'up'], `bringing ${a.iface} up`);
  await ipInside(env, ['addr', 'add', `${a.address}/${a.prefixLen}`, 'dev', a.iface], `giving ${a.iface} ${a.address}`);
  return new NodeLink(env, a);
}

/**
 * Plugs a network namespace (that of host process NETNSPID: a cc-ns
 * session's init, a node container's init) into the bridge: a veth whose
 * host end is a bridge port and whose other end is NODE_IFACE inside. The
 * pair vanishes with the namespace. Returns the address claimed for it
 * (configureInside gives it to the interface).
 */
export async function plugNetns(spec: NodeNetworkSpec, netnsPid: number, what: string): Promise<NodeAddress> {
  const i = await claimHost(spec, what);
  const host = vethName(spec.runPid, i);
  await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', NODE_IFACE, 'netns', String(netnsPid)], `plugging ${what} into ${spec.bridge}`);
  try {
    await ip(['link', 'set', host, 'master', spec.bridge, 'up'], `attaching ${host} to ${spec.bridge}`);
  } catch (e) {
    await ip(['link', 'delete', host], `removing ${host}`).catch(() => undefined);
    throw e;
  }
  return { address: addressOf(spec, i), prefixLen: spec.prefixLen, iface: NODE_IFACE };
}

/** A VM's NIC: the tap QEMU creates (it vanishes with QEMU), its MAC, and the address the guest's NODE_IFACE gets. */
export interface VmNic {
  tap: string;
  mac: string;
  address: NodeAddress;
}

/** Claims a VM's NIC on the run's network (QEMU then opens the tap: qemuArgv's nic). */
export async function claimVmNic(spec: NodeNetworkSpec, what: string): Promise<VmNic> {
  const i = await claimHost(spec, what);
  return { tap: tapName(spec.runPid, i), mac: macOf(spec, i), address: { address: addressOf(spec, i), prefixLen: spec.prefixLen, iface: NODE_IFACE } };
}

/** Puts a running VM's tap on the bridge, up (after QEMU opened it). */
export async function attachTap(spec: NodeNetworkSpec, tap: string): Promise<void> {
  await ip(['link', 'set', tap, 'master', spec.bridge, 'up'], `attaching ${tap} to ${spec.bridge}`);
}
