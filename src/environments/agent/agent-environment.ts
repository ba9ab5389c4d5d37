import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirPrivate } from '../../util/fs.ts';
import { signalName } from '../../util/process.ts';
import { EnvironmentError } from '../../errors.ts';
import type { NodeLink } from '../network/node-link.ts';
import type { SinkFactory } from '../../artifacts/store.ts';
import type { FileSink } from '../../artifacts/cipher.ts';
import { BASE_ENV, type Environment, type ExecOptions, type ExecResult } from '../environment.ts';
import { AgentChannel } from '../qemu/agent-channel.ts';

const IO_TIMEOUT_MS = 60_000;
/** The largest file put into a node in one request: the agent's frame limit (MAX_FRAME, 256 MiB) less room for the path and header. */
const PUT_MAX_BYTES = 255 * 2 ** 20;

const CHUNK = 8 << 20;

/**
 * A session over one cc-agent channel: what suites see of a qemu pool (a
 * virtio-serial port of a booted VM) and of a container pool (a unix socket
 * the agent serves as the container's PID 1). Each suite gets its own
 * channel and its own work directory in the guest's or container's memory
 * (/run/criu-compat/SESSION); the VM or container belongs to the run and
 * outlives the session.
 */
export class AgentEnvironment implements Environment {
  readonly backend: string;
  readonly id: string;
  readonly workDir: string;
  network?: NodeLink;
  private readonly channel: AgentChannel;
  private disposed = false;

  private constructor(id: string, workDir: string, channel: AgentChannel, backend: string) {
    this.backend = backend;
    this.id = id;
    this.workDir = workDir;
    this.channel = channel;
  }

  /**
   * Opens a session on an existing channel socket (or an already connected
   * channel). `explainClose` says why the other end went away (a VM's
   * console tail): added to a failed connect and to every failing request.
   */
  static async open(opts: { id: string; socket: string | AgentChannel; session: string; timeoutMs: number; backend: string; explainClose?: (waitMs?: number) => Promise<string> }): Promise<AgentEnvironment> {
    const explain = typeof opts.socket === 'string' ? opts.explainClose : undefined;
    const channel =
      typeof opts.socket === 'string'
        ? await AgentChannel.connect(opts.socket, opts.id, opts.timeoutMs).catch(async (e: Error) => {
            // QEMU removes its channel sockets when it exits: say so, with what the guest printed last.
            throw explain ? new EnvironmentError(`${e.message}${await explain()}`, { cause: e }) : e;
          })
        : opts.socket;
    // A VM that dies later: every failing request says so, with the guest console's last lines.
    if (explain) channel.explainClose = () => explain(2000);
    const env = new AgentEnvironment(opts.id, `/run/criu-compat/${opts.session}`, channel, opts.backend);
    try {
      await channel.ping(opts.timeoutMs);
      const r = await env.exec(['sh', '-c', 'rm -rf "$1" && mkdir -p -m 0700 "$1"', 'mkdir', env.workDir], { timeoutMs: opts.timeoutMs });
      if (r.exitCode !== 0) throw new EnvironmentError(`environment ${opts.id}: cannot make ${env.workDir} in the guest: ${r.stderr.trim()}`);
      return env;
    } catch (e) {
      if (typeof opts.socket === 'string') channel.close();
      throw e;
    }
  }

  private assertUp(): void {
    if (this.disposed) throw new EnvironmentError(`environment ${this.id} was already disposed`);
  }

  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    this.assertUp();
    const started = performance.now();
    let timedOut = false;
    const timer = setTimeout(() => (timedOut = true), opts.timeoutMs);
    try {
      const r = await this.channel.exec(argv, { env: { ...BASE_ENV, ...opts.env }, cwd: opts.cwd, timeoutMs: opts.timeoutMs, signal: opts.signal });
      return {
        exitCode: r.signal ? 128 + r.signal : r.exitCode,
        stdout: r.stdout.toString('utf8'),
        stderr: r.stderr.toString('utf8'),
        timedOut: timedOut && r.killed,
        durationMs: performance.now() - started,
        ...(signalName(r.signal) ? { signal: signalName(r.signal)! } : {}),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async spawnDetached(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<number> {
    this.assertUp();
    return this.channel.spawn(argv, { env: { ...BASE_ENV, ...opts.env }, outFile: opts.outFile, timeoutMs: IO_TIMEOUT_MS });
  }

  async isRunning(pid: number): Promise<boolean> {
    this.assertUp();
    const stat = (await this.channel.get(`/proc/${pid}/stat`, IO_TIMEOUT_MS))?.toString('utf8') ?? '';
    const state = /\) (\S)/.exec(stat)?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  }

  async pidInUse(pid: number): Promise<boolean> {
    this.assertUp();
    return ((await this.channel.get(`/proc/${pid}/stat`, IO_TIMEOUT_MS))?.length ?? 0) > 0;
  }

  async copyIn(hostPath: string, envPath: string): Promise<void> {
    this.assertUp();
    const st = await stat(hostPath);
    // One file is one frame of the agent's protocol: refuse what it cannot carry at once instead of waiting for a guest that drops it.
    if (st.size > PUT_MAX_BYTES) throw new EnvironmentError(`environment ${this.id}: ${hostPath} is ${(st.size / 2 ** 20).toFixed(0)} MiB; the agent channel carries at most ${PUT_MAX_BYTES / 2 ** 20} MiB per file into a node`);
    const data = await readFile(hostPath);
    await this.channel.put(envPath, data, st.mode & 0o7777, IO_TIMEOUT_MS);
  }

  async writeFile(envPath: string, data: string | Buffer, mode = 0o600): Promise<void> {
    this.assertUp();
    await this.channel.put(envPath, Buffer.from(data), mode, IO_TIMEOUT_MS);
  }

  async copyOut(envPath: string, hostDir: string, opts: { sink?: SinkFactory } = {}): Promise<string> {
    this.assertUp();
    const list = await this.exec(['find', envPath, '-mindepth', '1', '(', '-type', 'd', '-printf', 'd %P\\n', ')', '-o', '(', '-type', 'f', '-printf', 'f %P\\n', ')'], { timeoutMs: IO_TIMEOUT_MS });
    if (list.exitCode !== 0) throw new EnvironmentError(`environment ${this.id}: cannot list ${envPath}: ${list.stderr.trim()}`);
    await mkdirPrivate(hostDir);
    for (const line of list.stdout.split('\n').filter(Boolean)) {
      const rel = line.slice(2);
      const dst = join(hostDir, rel);
      if (!dst.startsWith(`${hostDir}/`)) continue;
      if (line[0] === 'd') {
        await mkdirPrivate(dst);
        continue;
      }
      // Chunk by chunk into the file, or through the sink (kept artifacts, encrypted on the way).
      const out = opts.sink ? await opts.sink(dst, rel) : await fileSink(dst);
      try {
        for (let offset = 0; ; ) {
          const chunk = await this.channel.get(`${envPath}/${rel}`, IO_TIMEOUT_MS, { offset, length: CHUNK });
          if (!chunk?.length) break;
          await out.write(chunk);
          offset += chunk.length;
          if (chunk.length < CHUNK) break;
        }
        await out.close();
      } catch (e) {
        await out.abort();
        throw e;
      }
    }
    return hostDir;
  }

  async readFile(envPath: string): Promise<Buffer> {
    this.assertUp();
    // The agent answers at most 16 MiB a request: read in ranges until a short one.
    const parts: Buffer[] = [];
    for (let offset = 0; ; ) {
      const chunk = await this.channel.get(envPath, IO_TIMEOUT_MS, { offset, length: CHUNK });
      if (chunk === null) throw Object.assign(new Error(`ENOENT: no such file in the guest: ${envPath}`), { code: 'ENOENT' });
      parts.push(chunk);
      offset += chunk.length;
      if (chunk.length < CHUNK) break;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async du(envPath: string): Promise<number> {
    const r = await this.exec(['du', '-s', '-B1', envPath], { timeoutMs: IO_TIMEOUT_MS });
    return r.exitCode === 0 ? Number(r.stdout.split(/\s/)[0]) || 0 : 0;
  }

  async makeDir(envPath: string): Promise<void> {
    const r = await this.exec(['mkdir', '-p', '-m', '0700', envPath], { timeoutMs: IO_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new EnvironmentError(`environment ${this.id}: mkdir ${envPath}: ${r.stderr.trim()}`);
  }

  async remove(envPath: string): Promise<void> {
    const r = await this.exec(['rm', '-rf', envPath], { timeoutMs: IO_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new EnvironmentError(`environment ${this.id}: rm ${envPath}: ${r.stderr.trim()}`);
  }

  /** Ends the session: its processes are the suite's to stop; its work directory (checkpoint images) is removed. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.remove(this.workDir);
    } catch {
      /* the VM may already be gone; its memory goes with it */
    }
    this.disposed = true;
    this.channel.close();
  }
}

/** A plain 0600 file as a sink (an existing one is overwritten, as before). */
async function fileSink(dst: string): Promise<FileSink> {
  const fh = await open(dst, 'w', 0o600);
  return {
    write: async (chunk) => void (await fh.write(chunk)),
    close: () => fh.close(),
    abort: () => fh.close().catch(() => undefined),
  };
}
