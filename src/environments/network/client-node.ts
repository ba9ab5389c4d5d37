import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { EnvironmentError } from '../../errors.ts';
import { killGroup, run } from '../../util/process.ts';
import { BASE_ENV, type ExecOptions, type ExecResult } from '../environment.ts';
import { NODE_IFACE } from './node-link.ts';
import { addressOf, claimHost, clientNetnsName, ip, vethName, type NodeAddress, type NodeNetworkSpec } from './node-network.ts';

/** A process a client node started: its host PID, how it ended, and a way to stop it. */
export interface ClientProcess {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

/**
 * A "third node" on the run's network: a bare named network namespace
 * (ccnPIDxN) with a veth on the bridge and loopback, for a peer that lives
 * outside every migrated tree (a TCP client whose connection must survive a
 * migration). Its commands are host binaries run with `ip netns exec`
 * (the host's file system, the node's network), under cc-guard when given
 * one, so that they die with the harness even after kill -9 (the netns
 * itself is swept by the next run). dispose() kills what it started and
 * deletes the netns (the veth goes with it).
 */
export class ClientNode implements NodeAddress {
  readonly name: string;
  readonly address: string;
  readonly prefixLen: number;
  readonly iface = NODE_IFACE;
  private readonly children = new Set<ChildProcess>();
  /** cc-guard's path (plan.natives.guard), or none. */
  private readonly guard: string | undefined;
  private disposed = false;

  private constructor(name: string, address: string, prefixLen: number, guard: string | undefined) {
    this.name = name;
    this.address = address;
    this.prefixLen = prefixLen;
    this.guard = guard;
  }

  /** Makes a client node on the run's network; with opts.guard (plan.natives.guard) its commands die with the harness. */
  static async start(spec: NodeNetworkSpec, what = 'client', opts: { guard?: string } = {}): Promise<ClientNode> {
    const i = await claimHost(spec, what);
    const name = clientNetnsName(spec.runPid, i);
    const host = vethName(spec.runPid, i);
    const node = new ClientNode(name, addressOf(spec, i), spec.prefixLen, opts.guard);
    try {
      await ip(['netns', 'add', name], `creating client netns ${name}`);
      await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', NODE_IFACE, 'netns', name], `plugging ${name} into ${spec.bridge}`);
      await ip(['link', 'set', host, 'master', spec.bridge, 'up'], `attaching ${host} to ${spec.bridge}`);
      await ip(['-n', name, 'link', 'set', 'lo', 'up'], `bringing lo up in ${name}`);
      await ip(['-n', name, 'link', 'set', NODE_IFACE, 'up'], `bringing ${NODE_IFACE} up in ${name}`);
      await ip(['-n', name, 'addr', 'add', `${node.address}/${spec.prefixLen}`, 'dev', NODE_IFACE], `giving ${name} ${node.address}`);
      return node;
    } catch (e) {
      await node.dispose();
      throw e;
    }
  }

  private assertUp(): void {
    if (this.disposed) throw new EnvironmentError(`client node ${this.name} was already disposed`);
  }

  /** Runs a host command in the client's network namespace; never throws for a non-zero exit. */
  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    this.assertUp();
    return run([...this.inNetns(), ...argv], { timeoutMs: opts.timeoutMs, env: { ...BASE_ENV, ...opts.env }, signal: opts.signal, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  }

  /** Starts a host command in the client's network namespace, in its own process group, output to outFile (a host path). */
  async spawn(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<ClientProcess> {
    this.assertUp();
    const out = await open(opts.outFile, 'w', 0o600);
    try {
      const [file, ...args] = [...this.inNetns(), ...argv];
      const child = spawn(file!, args, { detached: true, stdio: ['ignore', out.fd, out.fd], env: { ...BASE_ENV, ...opts.env } });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
      await new Promise<void>((res, rej) => {
        child.once('spawn', res);
        child.once('error', (e) => rej(new EnvironmentError(`client node ${this.name}: cannot start ${argv.join(' ')}: ${e.message}`, { cause: e })));
      });
      this.children.add(child);
      void exited.then(() => this.children.delete(child));
      return { pid: child.pid!, exited, kill: () => killGroup(child.pid) };
    } finally {
      await out.close();
    }
  }

  private inNetns(): string[] {
    return [...(this.guard ? [this.guard, '--'] : []), 'ip', 'netns', 'exec', this.name];
  }

  /** Forgets the neighbours it learnt (a moved address is then looked up afresh instead of waiting for the entry to go stale). */
  async flushNeighbours(): Promise<void> {
    await ip(['-n', this.name, 'neigh', 'flush', 'dev', NODE_IFACE], `flushing ${this.name}'s neighbours`);
  }

  /** Kills what it started and deletes the netns. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const gone = [...this.children].map((c) => new Promise<void>((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.once('exit', () => res()))));
    for (const c of this.children) killGroup(c.pid);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(gone), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    await run(['ip', 'netns', 'delete', this.name], { timeoutMs: 10_000 });
  }
}
