import type { Environment, ExecOptions, ExecResult } from '../../environments/environment.ts';

/**
 * An Environment whose commands run with a given umask instead of the
 * harness's 077: what a runtime writes on a node where nobody tightened it
 * (a shell's or a service's usual 022). Everything else goes to the node as is.
 */
export class UmaskEnvironment implements Environment {
  readonly id: string;
  readonly backend: string;
  readonly workDir: string;
  /** The umask the next commands run with (octal digits). */
  umask: string;
  private readonly inner: Environment;

  constructor(inner: Environment, umask: string) {
    if (!/^0?[0-7]{3}$/.test(umask)) throw new TypeError(`not a umask: ${umask}`);
    this.inner = inner;
    this.umask = umask;
    this.id = inner.id;
    this.backend = inner.backend;
    this.workDir = inner.workDir;
    if (inner.network) this.network = inner.network;
    if (inner.signal) this.signal = (pid, sig) => inner.signal!(pid, sig);
    if (inner.pidInUse) this.pidInUse = (pid) => inner.pidInUse!(pid);
    if (inner.hostPath) this.hostPath = (p) => inner.hostPath!(p);
  }

  network?: Environment['network'];
  signal?: Environment['signal'];
  pidInUse?: Environment['pidInUse'];
  hostPath?: Environment['hostPath'];

  private wrap(argv: readonly string[]): string[] {
    return ['sh', '-c', `umask ${this.umask} && exec "$@"`, 'umask', ...argv];
  }

  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(this.wrap(argv), opts);
  }
  spawnDetached(argv: readonly string[], opts: { outFile: string; env?: Record<string, string> }): Promise<number> {
    return this.inner.spawnDetached(this.wrap(argv), opts);
  }
  isRunning(pid: number): Promise<boolean> {
    return this.inner.isRunning(pid);
  }
  copyIn(hostPath: string, envPath: string): Promise<void> {
    return this.inner.copyIn(hostPath, envPath);
  }
  copyOut(envPath: string, hostDir: string): Promise<string> {
    return this.inner.copyOut(envPath, hostDir);
  }
  writeFile(envPath: string, data: string | Buffer, mode?: number): Promise<void> {
    return this.inner.writeFile(envPath, data, mode);
  }
  readFile(envPath: string): Promise<Buffer> {
    return this.inner.readFile(envPath);
  }
  du(envPath: string): Promise<number> {
    return this.inner.du(envPath);
  }
  makeDir(envPath: string): Promise<void> {
    return this.inner.makeDir(envPath);
  }
  remove(envPath: string): Promise<void> {
    return this.inner.remove(envPath);
  }
  /** The node belongs to the session that opened it: disposing of this view does nothing. */
  async dispose(): Promise<void> {}
}
