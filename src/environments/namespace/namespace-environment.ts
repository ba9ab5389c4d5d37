import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, cp, lstat, mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { EnvironmentError } from '../../errors.ts';
import { mkdirPrivate } from '../../util/fs.ts';
import { run } from '../../util/process.ts';
import type { NodeLink } from '../network/node-link.ts';
import { pump } from '../../artifacts/cipher.ts';
import type { SinkFactory } from '../../artifacts/store.ts';
import { BASE_ENV, type Environment, type ExecOptions, type ExecResult } from '../environment.ts';

const WORKDIR_INSIDE = '/run/criu-compat';

export interface NamespaceStartOptions {
  id: string;
  rootfs: string;
  /** Host directory (0700) that appears at /run/criu-compat inside. */
  hostWorkDir: string;
  /** Path of the compiled cc-ns helper. */
  helper: string;
  timeoutMs: number;
}

/**
 * A node image on the host kernel: new mount, PID, network, UTS and IPC
 * namespaces whose PID 1 (cc-ns) reaps orphans. Nothing is mounted in the
 * host's namespace, and the init dies with the harness (PDEATHSIG), so a
 * crash of the harness cannot leave the environment behind.
 */
export class NamespaceEnvironment implements Environment {
  readonly backend = 'namespace';
  readonly workDir = WORKDIR_INSIDE;
  readonly id: string;
  readonly initPid: number;
  network?: NodeLink;
  private readonly opts: NamespaceStartOptions;
  private readonly proc: ChildProcess;
  private exited: Promise<void>;
  private disposed = false;

  private constructor(opts: NamespaceStartOptions, proc: ChildProcess, initPid: number, exited: Promise<void>) {
    this.opts = opts;
    this.id = opts.id;
    this.proc = proc;
    this.initPid = initPid;
    this.exited = exited;
  }

  static async start(opts: NamespaceStartOptions): Promise<NamespaceEnvironment> {
    const proc = spawn(opts.helper, ['init', opts.rootfs, opts.hostWorkDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const initPid = await new Promise<number>((res, rej) => {
        const timer = setTimeout(() => rej(new EnvironmentError(`environment ${opts.id}: no answer from cc-ns init within ${opts.timeoutMs} ms`)), opts.timeoutMs);
        proc.on('error', (e) => {
          clearTimeout(timer);
          rej(new EnvironmentError(`environment ${opts.id}: cannot start ${opts.helper}: ${e.message}`, { cause: e }));
        });
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const ready = /^ready (\d+)$/m.exec(out);
          const bad = /^error: (.*)$/m.exec(out);
          if (ready || bad) clearTimeout(timer);
          if (ready) res(Number(ready[1]));
          else if (bad)
            rej(new EnvironmentError(`environment ${opts.id}: entering node image ${opts.rootfs} failed: ${bad[1]}${/EPERM|Operation not permitted/.test(bad[1]!) ? ' (run as root with CAP_SYS_ADMIN)' : ''}`));
        });
        proc.once('exit', (code, sig) => {
          clearTimeout(timer);
          rej(new EnvironmentError(`environment ${opts.id}: cc-ns init exited (${sig ?? code}) before it was ready: ${(out + err).trim()}`));
        });
      });
      return new NamespaceEnvironment(opts, proc, initPid, exited);
    } catch (e) {
      proc.kill('SIGKILL');
      await exited;
      throw e;
    }
  }

  private assertUp(): void {
    if (this.disposed) throw new EnvironmentError(`environment ${this.id} was already disposed`);
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new EnvironmentError(`environment ${this.id} is gone (its init exited)`);
  }

  /**
   * The command's environment: names on cc-ns's command line (-E), values in
   * cc-ns's own environment, which only root reads (/proc/PID/environ is
   * 0400): a workload's secret (the security suite's canary, a pilot's
   * PGPASSWORD) never appears in a /proc/PID/cmdline any host user can read.
   */
  private envOf(env?: Record<string, string>): { flags: string[]; values: Record<string, string> } {
    const values = { ...BASE_ENV, ...env };
    return { flags: Object.keys(values).flatMap((k) => ['-E', k]), values };
  }

  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    this.assertUp();
    const e = this.envOf(opts.env);
    const r = await run([this.opts.helper, 'exec', String(this.initPid), '-C', opts.cwd ?? '/', ...e.flags, '--', ...argv], { timeoutMs: opts.timeoutMs, env: e.values, signal: opts.signal, graceMs: 3000 });
    if (r.exitCode === 125 && /^cc-ns exec:/m.test(r.stderr)) throw new EnvironmentError(`environment ${this.id}: ${r.stderr.trim()}`);
    return r;
  }

  async spawnDetached(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<number> {
    this.assertUp();
    const e = this.envOf(opts.env);
    const r = await run([this.opts.helper, 'exec', String(this.initPid), '-d', opts.outFile, ...e.flags, '--', ...argv], { timeoutMs: 10_000, env: e.values });
    const pid = Number(r.stdout.trim());
    if (r.exitCode !== 0 || !Number.isInteger(pid) || pid <= 0)
      throw new EnvironmentError(`environment ${this.id}: cannot start ${argv.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`);
    return pid;
  }

  /** Host path of a path inside the work directory. */
  hostPath(envPath: string): string {
    const rel = relative(WORKDIR_INSIDE, resolve('/', envPath));
    if (rel.startsWith('..')) throw new EnvironmentError(`environment ${this.id}: ${envPath} is outside the work directory ${WORKDIR_INSIDE}`);
    return join(this.opts.hostWorkDir, rel);
  }

  async isRunning(pid: number): Promise<boolean> {
    this.assertUp();
    // The environment's own /proc, read from the host: no process to start.
    const stat = await readFile(`/proc/${this.initPid}/root/proc/${pid}/stat`, 'utf8').catch(() => '');
    const state = /\) (\S)/.exec(stat)?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  }

  async pidInUse(pid: number): Promise<boolean> {
    this.assertUp();
    return (await readFile(`/proc/${this.initPid}/root/proc/${pid}/stat`, 'utf8').catch(() => '')) !== '';
  }

  /**
   * Signals from the host: a workload (started detached, or restored with
   * restore -d) is a child of the environment's init, whose host PID its
   * NSpid line maps. Saves starting a process inside (~10 ms here, a tenth
   * of a whole round trip). Anything else is signalled from inside.
   */
  async signal(pid: number, sig: string): Promise<boolean> {
    this.assertUp();
    const children = await readFile(`/proc/${this.initPid}/task/${this.initPid}/children`, 'utf8').catch(() => '');
    for (const host of children.split(/\s+/).filter(Boolean)) {
      const nspid = /^NSpid:\s+(.+)$/m.exec(await readFile(`/proc/${host}/status`, 'utf8').catch(() => ''))?.[1]?.trim().split(/\s+/);
      if (nspid && Number(nspid[nspid.length - 1]) === pid) {
        try {
          process.kill(Number(host), /^\d+$/.test(sig) ? Number(sig) : (`SIG${sig.replace(/^SIG/, '')}` as NodeJS.Signals));
          return true;
        } catch {
          return false;
        }
      }
    }
    const r = await this.exec(['kill', `-${sig.replace(/^SIG/, '')}`, String(pid)], { timeoutMs: 5000 });
    return r.exitCode === 0;
  }

  async copyIn(hostPath: string, envPath: string): Promise<void> {
    this.assertUp();
    await copyFile(hostPath, this.hostPath(envPath));
  }

  async writeFile(envPath: string, data: string | Buffer, mode = 0o600): Promise<void> {
    this.assertUp();
    await writeFile(this.hostPath(envPath), data, { mode });
  }

  async copyOut(envPath: string, hostDir: string, opts: { sink?: SinkFactory } = {}): Promise<string> {
    this.assertUp();
    const src = this.hostPath(envPath);
    if (!opts.sink && resolve(src) === resolve(hostDir)) return hostDir; // the work directory is already on the host
    await mkdirPrivate(hostDir);
    if (!opts.sink) {
      await cp(src, hostDir, { recursive: true, preserveTimestamps: true });
      return hostDir;
    }
    // Through the sink, file by file (symbolic links, e.g. a dump's "parent", are made as links).
    for (const e of await readdir(src, { recursive: true, withFileTypes: true })) {
      const from = join(e.parentPath, e.name);
      const rel = relative(src, from);
      const to = join(hostDir, rel);
      if (e.isDirectory()) await mkdirPrivate(to);
      else if (e.isSymbolicLink()) await symlink(await readlink(from), to);
      else if (e.isFile()) await pump(from, await opts.sink(to, rel));
    }
    return hostDir;
  }

  async readFile(envPath: string): Promise<Buffer> {
    this.assertUp();
    const abs = resolve('/', envPath);
    const p = abs.startsWith(`${WORKDIR_INSIDE}/`) ? this.hostPath(abs) : join(`/proc/${this.initPid}/root`, abs);
    return readFile(p);
  }

  async du(envPath: string): Promise<number> {
    return duHost(this.hostPath(envPath));
  }

  async makeDir(envPath: string): Promise<void> {
    await mkdir(this.hostPath(envPath), { recursive: true, mode: 0o700 });
  }

  async remove(envPath: string): Promise<void> {
    await rm(this.hostPath(envPath), { recursive: true, force: true });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // Killing the PID namespace's init kills every process inside; the
    // namespaces and their mounts go with the last of them.
    // The helper outside waits for its init and reaps it: wait for that, so
    // that when dispose() returns the namespaces are really gone (and no
    // zombie is left to a host init that may never reap it).
    try {
      process.kill(this.initPid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    // The deadline is cleared once the init is reaped: a pending 10 s timer would keep the CLI alive after its work is done.
    let deadline: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (deadline = setTimeout(() => r(false), 10_000)))]);
    clearTimeout(deadline);
    if (!gone) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
}

async function duHost(p: string): Promise<number> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.blocks * 512;
  let total = 0;
  for (const e of await readdir(p)) total += await duHost(join(p, e));
  return total;
}
