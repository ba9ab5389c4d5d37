import { poll } from '../util/wait-until.ts';
import type { Environment } from '../environments/environment.ts';

export type Verdict = { status: 'PASS' } | { status: 'FAIL'; message: string };

/**
 * The harness side of the ready/verify protocol: start a workload detached,
 * wait for "ready", and after restore send SIGUSR1 and read its verdict.
 */
export class Workload implements ProtocolPeer {
  readonly name: string;
  readonly outFile: string;
  pid = 0;
  /** Cancels waiting (the test's signal). */
  abortSignal: AbortSignal | undefined;
  private readonly env: Environment;
  private readonly binary: string;

  private readonly args: string[];
  /** Extra environment for the workload (e.g. TMPDIR: where it keeps its files). */
  private readonly extraEnv: Record<string, string> | undefined;

  constructor(env: Environment, name: string, binary: string, outFile: string, args: string[] = [], extraEnv?: Record<string, string>) {
    this.env = env;
    this.name = name;
    this.binary = binary;
    this.outFile = outFile;
    this.args = args;
    this.extraEnv = extraEnv;
  }

  /** The same workload restored elsewhere (another node): its PID there, its output file at the same path there. */
  movedTo(env: Environment): Workload {
    const w = new Workload(env, this.name, this.binary, this.outFile, this.args, this.extraEnv);
    w.pid = this.pid;
    w.abortSignal = this.abortSignal;
    return w;
  }

  async start(): Promise<number> {
    this.pid = await this.env.spawnDetached([this.binary, ...this.args], { outFile: this.outFile, ...(this.extraEnv ? { env: this.extraEnv } : {}) });
    return this.pid;
  }

  async lines(): Promise<string[]> {
    const buf = await this.env.readFile(this.outFile).catch(() => Buffer.alloc(0));
    return buf.toString('utf8').split('\n').filter(Boolean);
  }

  waitReady(timeoutMs: number): Promise<{ ok: boolean; alive: boolean }> {
    return waitReady(this, timeoutMs);
  }

  verdict(timeoutMs: number): Promise<Verdict | { status: 'NONE'; alive: boolean }> {
    return askVerdict(this, timeoutMs);
  }

  async signal(sig: string): Promise<boolean> {
    if (this.env.signal) return this.env.signal(this.pid, sig);
    const r = await this.env.exec(['sh', '-c', `kill -${sig} ${this.pid}`], { timeoutMs: 5000 });
    return r.exitCode === 0;
  }

  async alive(): Promise<boolean> {
    return this.env.isRunning(this.pid);
  }

  /**
   * Waits until the process is gone and, where the environment can tell,
   * reaped: a restore needs its PID free, and a zombie still holds it until
   * the environment's init gets to it (seen on a loaded host: `Can't fork for
   * N: File exists`).
   */
  async waitGone(timeoutMs: number): Promise<boolean> {
    const gone = async () => !(await this.alive()) && !(this.env.pidInUse && (await this.env.pidInUse(this.pid)));
    return (await poll(async () => ((await gone()) ? true : undefined), { intervalMs: 5, timeoutMs })) ?? false;
  }

  /** Best effort: kills the whole session the workload leads. */
  async kill(): Promise<void> {
    if (!this.pid) return; // never started: "kill -0" would name the caller's own group
    await this.env.exec(['sh', '-c', `kill -9 -${this.pid} ${this.pid} 2>/dev/null; true`], { timeoutMs: 5000 }).catch(() => undefined);
  }
}

/** Anything that speaks the protocol: a process in an environment, or a container a runtime runs. */
export interface ProtocolPeer {
  abortSignal: AbortSignal | undefined;
  lines(): Promise<string[]>;
  alive(): Promise<boolean>;
  signal(sig: string): Promise<boolean>;
}

/** Polls a peer's output until a line matches, the peer is gone, or time runs out. */
async function waitForLine(peer: ProtocolPeer, re: RegExp, timeoutMs: number, pollMs = 10): Promise<{ line?: string; alive: boolean }> {
  let checks = 0;
  const found = await poll<{ line?: string; alive: boolean }>(
    async () => {
      const line = (await peer.lines()).find((l) => re.test(l));
      if (line) return { line, alive: true };
      if (++checks % 5 !== 0 || (await peer.alive())) return undefined;
      const late = (await peer.lines()).find((l) => re.test(l));
      return late ? { line: late, alive: false } : { alive: false };
    },
    { intervalMs: pollMs, timeoutMs, signal: peer.abortSignal },
  );
  return found ?? { alive: await peer.alive() };
}

export async function waitReady(peer: ProtocolPeer, timeoutMs: number, pollMs?: number): Promise<{ ok: boolean; alive: boolean }> {
  const r = await waitForLine(peer, /^ready$/, timeoutMs, pollMs);
  return { ok: r.line !== undefined, alive: r.alive };
}

/** Sends the verify signal and reads PASS or FAIL. */
export async function askVerdict(peer: ProtocolPeer, timeoutMs: number, pollMs?: number): Promise<Verdict | { status: 'NONE'; alive: boolean }> {
  await peer.signal('USR1');
  const r = await waitForLine(peer, /^(PASS|FAIL)\b/, timeoutMs, pollMs);
  if (!r.line) return { status: 'NONE', alive: r.alive };
  return r.line.startsWith('PASS') ? { status: 'PASS' } : { status: 'FAIL', message: r.line.replace(/^FAIL:?\s*/, '') };
}
