import { connect, type Socket } from 'node:net';
import { EnvironmentError } from '../../errors.ts';
import { waitUntil } from '../../util/wait-until.ts';

/** Frame types of cc-agent's protocol (see src/agent/protocol.h). */
export const Frame = { PING: 1, PONG: 2, EXEC: 3, EXITED: 4, SPAWNED: 5, KILL: 6, PUT: 7, DONE: 8, GET: 9, DATA: 10 } as const;
type Frame = (typeof Frame)[keyof typeof Frame];

const HEADER = 12;

interface Pending {
  resolve: (f: { type: number; payload: Buffer }) => void;
  reject: (e: Error) => void;
}

export interface AgentExit {
  exitCode: number;
  signal: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * One host end of a cc-agent channel: a unix socket that QEMU connects to a
 * virtio-serial port in the guest. Requests carry ids, so many can be in
 * flight at once (a dump running while its log is read).
 */
export class AgentChannel {
  private sock: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closedWith: Error | null = null;
  private socketError = '';
  readonly label: string;
  /**
   * Says why the other end went away (a VM's console tail), appended to the
   * error every pending and later request fails with. Bounded by the caller.
   */
  explainClose: (() => Promise<string>) | undefined;

  private constructor(sock: Socket, label: string) {
    this.sock = sock;
    this.label = label;
    sock.on('data', (d: Buffer) => this.onData(d));
    // 'close' always follows 'error': the error is reported there, with the explanation.
    sock.on('error', (e) => (this.socketError = e.message));
    sock.on('close', () => void this.closed());
  }

  private async closed(): Promise<void> {
    if (this.closedWith) return;
    const what = this.socketError ? `channel to the guest broke (${this.socketError})` : this.explainClose ? 'channel to the guest closed' : 'channel to the guest closed (the VM is gone)';
    const why = this.explainClose ? await this.explainClose().catch(() => '') : '';
    this.fail(new EnvironmentError(`${this.label}: ${what}${why}`));
  }

  /** Connects to the socket (retrying while QEMU has not created it yet). */
  static async connect(path: string, label: string, timeoutMs: number, signal?: AbortSignal): Promise<AgentChannel> {
    let last = '';
    const sock = await waitUntil(
      () =>
        new Promise<Socket | undefined>((res) => {
          const s = connect(path);
          s.once('connect', () => res(s));
          s.once('error', (e) => res(void (last = e.message)));
        }),
      { intervalMs: 50, timeoutMs, signal, abortError: () => new EnvironmentError(`${label}: cancelled`), timeout: () => new EnvironmentError(`${label}: cannot connect to ${path} (${last})`) },
    );
    return new AgentChannel(sock, label);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= HEADER) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < HEADER + len) break;
      const id = this.buf.readUInt32LE(4);
      const type = this.buf.readUInt8(8);
      const payload = this.buf.subarray(HEADER, HEADER + len);
      this.buf = this.buf.subarray(HEADER + len);
      const p = this.pending.get(id);
      if (p) {
        this.pending.delete(id);
        p.resolve({ type, payload: Buffer.from(payload) });
      }
      // A reply to a request of an earlier client of this channel: not ours.
    }
  }

  private fail(e: Error): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private send(type: Frame, payload: Buffer, expectReply: boolean): { id: number; reply: Promise<{ type: number; payload: Buffer }> } {
    if (this.closedWith) throw this.closedWith;
    const id = this.nextId++;
    // Closed, its reason still being read: the request fails with it.
    const closing = this.sock.destroyed;
    const head = Buffer.alloc(HEADER);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt8(type, 8);
    const reply = expectReply
      ? new Promise<{ type: number; payload: Buffer }>((resolve, reject) => this.pending.set(id, { resolve, reject }))
      : Promise.resolve({ type: 0, payload: Buffer.alloc(0) });
    if (!closing) this.sock.write(Buffer.concat([head, payload]));
    return { id, reply };
  }

  private async request(type: Frame, payload: Buffer, timeoutMs: number, what: string): Promise<{ type: number; payload: Buffer }> {
    const { id, reply } = this.send(type, payload, true);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        reply,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new EnvironmentError(`${this.label}: the guest did not answer ${what} within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /** Guest uptime of the agent's server in ms. */
  async ping(timeoutMs: number): Promise<number> {
    const r = await this.request(Frame.PING, Buffer.alloc(0), timeoutMs, 'a ping');
    return r.payload.readUInt32LE(0);
  }

  /**
   * Runs argv to completion. On timeout or abort, its process group is
   * killed and the result still comes back (timedOut is then the caller's
   * to set). graceMs bounds how long the guest may take to report after a
   * kill before the channel is declared broken.
   */
  async exec(
    argv: readonly string[],
    opts: { env: Record<string, string>; cwd?: string | undefined; timeoutMs: number; signal?: AbortSignal | undefined; graceMs?: number },
  ): Promise<AgentExit & { killed: boolean }> {
    const env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    const strs = ['run', opts.cwd ?? '', '', String(env.length), ...env, ...argv];
    const { id, reply } = this.send(Frame.EXEC, Buffer.concat(strs.map((s) => Buffer.from(`${s}\0`))), true);
    let killed = false;
    let hard: NodeJS.Timeout | undefined;
    let failHard: (e: Error) => void = () => undefined;
    const broken = new Promise<never>((_, rej) => (failHard = rej));
    const kill = () => {
      if (killed) return;
      killed = true;
      const b = Buffer.alloc(4);
      b.writeUInt32LE(id, 0);
      try {
        this.send(Frame.KILL, b, false);
      } catch {
        /* channel gone: the reply rejects */
      }
      // After a kill the agent must report within graceMs, or the channel is broken.
      hard = setTimeout(() => failHard(new EnvironmentError(`${this.label}: the guest did not report ${argv[0]} after killing it`)), opts.graceMs ?? 10_000);
    };
    const timer = setTimeout(kill, opts.timeoutMs);
    opts.signal?.addEventListener('abort', kill, { once: true });
    if (opts.signal?.aborted) kill();
    try {
      const r = await Promise.race([reply, broken]);
      if (r.type !== Frame.EXITED) throw new EnvironmentError(`${this.label}: the agent refused ${argv[0]} (reply ${r.type}, ${r.payload.length >= 4 ? r.payload.readInt32LE(0) : '?'})`);
      const p = r.payload;
      const outLen = p.readUInt32LE(8);
      const errLen = p.readUInt32LE(12);
      return {
        exitCode: p.readInt32LE(0),
        signal: p.readInt32LE(4),
        stdout: p.subarray(16, 16 + outLen),
        stderr: p.subarray(16 + outLen, 16 + outLen + errLen),
        killed,
      };
    } finally {
      clearTimeout(timer);
      clearTimeout(hard);
      opts.signal?.removeEventListener('abort', kill);
      this.pending.delete(id);
    }
  }

  /** Starts argv detached in the guest (own session, output to outFile); returns its guest PID. */
  async spawn(argv: readonly string[], opts: { env: Record<string, string>; outFile: string; cwd?: string; timeoutMs: number }): Promise<number> {
    const env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    const strs = ['spawn', opts.cwd ?? '', opts.outFile, String(env.length), ...env, ...argv];
    const r = await this.request(Frame.EXEC, Buffer.concat(strs.map((s) => Buffer.from(`${s}\0`))), opts.timeoutMs, `spawning ${argv[0]}`);
    const v = r.payload.readInt32LE(0);
    if (r.type !== Frame.SPAWNED || v <= 0) throw new EnvironmentError(`${this.label}: cannot start ${argv[0]} in the guest (errno ${-v})`);
    return v;
  }

  async put(path: string, data: Buffer, mode: number, timeoutMs: number): Promise<void> {
    const m = Buffer.alloc(4);
    m.writeUInt32LE(mode, 0);
    const r = await this.request(Frame.PUT, Buffer.concat([Buffer.from(`${path}\0`), m, data]), timeoutMs, `writing ${path}`);
    const v = r.payload.readInt32LE(0);
    if (v !== 0) throw new EnvironmentError(`${this.label}: cannot write ${path} in the guest (errno ${-v})`);
  }

  /** Reads a guest file (or LENGTH bytes at OFFSET, at most 16 MiB); null when it does not exist (or belonged to a process that is gone). */
  async get(path: string, timeoutMs: number, range?: { offset: number; length: number }): Promise<Buffer | null> {
    const rangeBuf = Buffer.alloc(range ? 12 : 0);
    if (range) {
      rangeBuf.writeBigUInt64LE(BigInt(range.offset), 0);
      rangeBuf.writeUInt32LE(range.length, 8);
    }
    const r = await this.request(Frame.GET, Buffer.concat([Buffer.from(`${path}\0`), rangeBuf]), timeoutMs, `reading ${path}`);
    const v = r.payload.readInt32LE(0);
    // ENOENT; or ESRCH, a /proc file of a process that ended between the agent's open and read (a default run's pre-dump hit it)
    if (v === -2 || v === -3) return null;
    if (v !== 0) throw new EnvironmentError(`${this.label}: cannot read ${path} in the guest (errno ${-v})`);
    return r.payload.subarray(4);
  }

  close(): void {
    this.fail(new EnvironmentError(`${this.label}: channel closed`));
    this.sock.destroy();
  }
}
