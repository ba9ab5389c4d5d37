import { readFile } from 'node:fs/promises';
import type { ClientNode, ClientProcess } from '../environments/network/client-node.ts';
import type { ExecOptions, ExecResult } from '../environments/environment.ts';
import type { ClientHost } from './pilot-client.ts';

/**
 * A pilot's client on a client node of the run's network (a third node, outside
 * both ends of a migration): host binaries in the client's network namespace,
 * their output in root-only host files. What PilotClient needs of a node.
 */
export class ClientNodeHost implements ClientHost {
  readonly node: ClientNode;
  private readonly procs = new Map<number, { p: ClientProcess; done: boolean }>();

  constructor(node: ClientNode) {
    this.node = node;
  }

  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.node.exec(argv, opts);
  }

  async spawnDetached(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<number> {
    const p = await this.node.spawn(argv, opts);
    const entry = { p, done: false };
    void p.exited.then(() => (entry.done = true));
    this.procs.set(p.pid, entry);
    return p.pid;
  }

  readFile(hostPath: string): Promise<Buffer> {
    return readFile(hostPath);
  }

  async isRunning(pid: number): Promise<boolean> {
    const e = this.procs.get(pid);
    return e !== undefined && !e.done;
  }

  /** Signals the process's group (it was started in a group of its own); false when it is gone. */
  async signal(pid: number, sig: string): Promise<boolean> {
    if (!(await this.isRunning(pid))) return false;
    try {
      process.kill(-pid, `SIG${sig.replace(/^SIG/, '')}` as NodeJS.Signals);
      return true;
    } catch {
      return false;
    }
  }
}
