import { spawn, type ChildProcess } from 'node:child_process';
import { access, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EnvironmentError } from '../../errors.ts';
import { mkdirPrivate, removeTree } from '../../util/fs.ts';
import { poll } from '../../util/wait-until.ts';
import { AgentChannel } from './agent-channel.ts';

export type Accel = 'kvm' | 'tcg';

export interface MachineSpec {
  /** Names the VM (pool name) in messages and in QEMU's -name. */
  id: string;
  vmlinuz: string;
  initrd: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  /** Number of cc-agent channels (virtio-serial ports cc.0 … cc.N-1). */
  channels: number;
  /** Host directory (made 0700) for the channel sockets and the serial console log. */
  dir: string;
  /** cc-guard, which makes QEMU die with the harness. */
  guard: string;
  bootTimeoutMs: number;
  /** Extra kernel command line. */
  append?: string;
  /** A virtio-net NIC on this tap (QEMU creates it and it goes with QEMU; script=no: the harness bridges it). */
  nic?: { tap: string; mac: string } | undefined;
  /** QEMU CPU model (-cpu); absent: `host` under KVM, `max` under TCG. */
  cpu?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** The guest panicked, never answered, or QEMU failed: carries the console's last lines. */
export class BootError extends EnvironmentError {
  override name = 'BootError';
  readonly consoleTail: string[];
  constructor(message: string, consoleTail: string[]) {
    super(message);
    this.consoleTail = consoleTail;
  }
}

export const QEMU = 'qemu-system-x86_64';

/** How QEMU is told to use TCG (see qemuArgv). */
export const TCG_ACCEL = 'tcg,thread=single';

/** The QEMU command line of a criu-compat guest (also used bare by the benchmark). */
export function qemuArgv(spec: Pick<MachineSpec, 'id' | 'vmlinuz' | 'initrd' | 'memoryMiB' | 'cpus' | 'accel' | 'channels' | 'dir' | 'append' | 'nic' | 'cpu'>): string[] {
  const argv = [
    QEMU,
    '-name', `criu-compat-${spec.id}`,
    '-machine', 'pc',
    // Multi-threaded TCG lets a vCPU run stale code while another patches the guest kernel's text
    // (static keys, via int3): the guest dies with "Oops: int3" at a patched site, more often on a
    // loaded host (seen at boot in sched_clock_cpu and during CRIU dumps). One thread for all vCPUs
    // keeps the SMP topology without that race.
    '-accel', spec.accel === 'tcg' ? TCG_ACCEL : 'kvm',
    '-cpu', cpuModelOf(spec),
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.cpus),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-chardev', `file,id=console,path=${join(spec.dir, 'console.log')}`,
    '-serial', 'chardev:console',
    '-kernel', spec.vmlinuz,
    '-initrd', spec.initrd,
    // no_timer_check: an emulated guest on a busy host can miss the IO-APIC timer check and panic at boot
    // ("IO-APIC + timer doesn't work!", seen with Debian 6.12 under TCG at load 12 on 2 cores).
    '-append', `console=ttyS0 rdinit=/cc/init panic=-1 loglevel=4 no_timer_check ${spec.append ?? ''}`.trim(),
  ];
  if (spec.nic)
    argv.push('-netdev', `tap,id=net0,ifname=${spec.nic.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=net0,mac=${spec.nic.mac}`);
  if (spec.channels > 0) {
    argv.push('-device', 'virtio-serial-pci,id=vs');
    for (let i = 0; i < spec.channels; i++)
      argv.push('-chardev', `socket,id=cc${i},path=${channelSocket(spec.dir, i)},server=on,wait=off`, '-device', `virtserialport,bus=vs.0,chardev=cc${i},name=cc.${i}`);
  }
  return argv;
}

/** The -cpu a guest gets: the pool's vm.cpu, else the host's CPU under KVM and everything TCG can emulate under TCG. */
export function cpuModelOf(spec: Pick<MachineSpec, 'accel' | 'cpu'>): string {
  return spec.cpu ?? (spec.accel === 'kvm' ? 'host' : 'max');
}

export function channelSocket(dir: string, i: number): string {
  return join(dir, `cc.${i}.sock`);
}

/**
 * What to append to an error when a VM's channel fails: whether QEMU is gone
 * (it removes its channel sockets when it exits; given up to waitMs to do
 * so) and the last lines the guest printed.
 */
export async function vmGoneDetail(socket: string, waitMs = 0): Promise<string> {
  const gone = (await poll(() => access(socket).then(() => undefined, () => true), { intervalMs: 100, timeoutMs: waitMs })) ?? false;
  const tail = await consoleTail(dirname(socket), 80);
  // A panic or an oops ends in a register dump: name the line that says what happened, then the last few.
  const why = tail.filter((l) => /Kernel panic|Out of memory|Killed process|BUG:|Oops|general protection|Attempted to kill init|segfault| Comm: |RIP: 0010:/.test(l)).slice(0, 5);
  const last = tail.slice(why.length ? -4 : -12).filter((l) => !why.includes(l));
  const shown = why.length ? [...why, '…', ...last] : last;
  return `${gone ? '; the VM is gone (QEMU exited)' : ''}${shown.length ? `; guest console${why.length ? '' : ', last lines'}: ${shown.join(' | ')}` : ''}`;
}

/** The last lines the guest printed on its serial console. */
export async function consoleTail(dir: string, lines = 40): Promise<string[]> {
  const text = await readFile(join(dir, 'console.log'), 'utf8').catch(() => '');
  return text
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => l.trim())
    .slice(-lines);
}

/**
 * One VM: a kernel and a guest root in QEMU, reached through cc-agent
 * channels. It boots when start() resolves (channel 0 answered), and it is
 * killed by dispose(), by the harness's death (parent-death signal), or by
 * its own guest (panic=-1 with -no-reboot ends QEMU).
 */
export class QemuMachine {
  readonly spec: MachineSpec;
  readonly bootMs: number;
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private disposed = false;
  /** Channel 0, connected during boot; the caller may use it, then close it. */
  readonly control: AgentChannel;

  private constructor(spec: MachineSpec, proc: ChildProcess, exited: Promise<void>, bootMs: number, control: AgentChannel) {
    this.spec = spec;
    this.proc = proc;
    this.exited = exited;
    this.bootMs = bootMs;
    this.control = control;
  }

  /** The QEMU CPU model the guest runs on (-cpu). */
  get cpuModel(): string {
    return cpuModelOf(this.spec);
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  static async start(spec: MachineSpec): Promise<QemuMachine> {
    await removeTree(spec.dir);
    await mkdirPrivate(spec.dir);
    // The console log is created by us, root-only, before QEMU appends to it.
    await (await open(join(spec.dir, 'console.log'), 'w', 0o600)).close();
    const argv = qemuArgv(spec);
    const started = performance.now();
    const proc = spawn(spec.guard, ['--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    const fail = async (why: string) => new BootError(`${spec.id}: ${why}`, await consoleTail(spec.dir));
    const exitWhy = () =>
      `QEMU exited during boot (${proc.signalCode ?? `exit ${proc.exitCode}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ' (guest panic or power-off; see the console tail)'}`;
    const gone = new Promise<never>((_, rej) => {
      proc.once('error', (e) => rej(new EnvironmentError(`${spec.id}: cannot start ${QEMU}: ${e.message}${(e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (apt-get install qemu-system-x86)' : ''}`, { cause: e })));
      proc.once('exit', () => void fail(exitWhy()).then(rej));
    });
    gone.catch(() => undefined);
    // Stops the connect loop as soon as QEMU is gone (or the run is cancelled), so nothing outlives a failed boot.
    const stopConnecting = new AbortController();
    proc.once('exit', () => stopConnecting.abort());
    spec.signal?.addEventListener('abort', () => stopConnecting.abort(), { once: true });
    let channel: AgentChannel | undefined;
    try {
      const deadline = started + spec.bootTimeoutMs;
      const aborted = new Promise<never>((_, rej) => {
        if (spec.signal?.aborted) rej(new EnvironmentError(`${spec.id}: cancelled`));
        spec.signal?.addEventListener('abort', () => rej(new EnvironmentError(`${spec.id}: cancelled`)), { once: true });
      });
      aborted.catch(() => undefined);
      // QEMU's exit stops the connect loop at once, but the reason (console tail) takes a moment to read:
      // when QEMU is gone, report why it went, not that connecting was cancelled.
      const connecting = AgentChannel.connect(channelSocket(spec.dir, 0), `${spec.id}/cc.0`, spec.bootTimeoutMs, stopConnecting.signal).catch(async (e: unknown) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return gone;
        throw e;
      });
      connecting.then((c) => (proc.exitCode !== null || proc.signalCode !== null ? c.close() : undefined)).catch(() => undefined);
      channel = await Promise.race([connecting, gone, aborted]);
      const left = Math.max(1, deadline - performance.now());
      await Promise.race([
        channel.ping(left).catch(async (e: Error) => {
          // The channel breaks when QEMU goes: let its exit tell why.
          await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
          if (proc.exitCode !== null || proc.signalCode !== null) throw await fail(exitWhy());
          throw await fail(`the guest did not answer within ${spec.bootTimeoutMs} ms (${spec.accel}; ${e.message})`);
        }),
        gone,
        aborted,
      ]);
      return new QemuMachine(spec, proc, exited, performance.now() - started, channel);
    } catch (e) {
      channel?.close();
      proc.kill('SIGKILL');
      await exited;
      await removeTree(spec.dir);
      throw e;
    }
  }

  /** Kills QEMU (the guest's state, checkpoint images included, is gone with it) and removes the sockets. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.control.close();
    this.proc.kill('SIGKILL');
    await this.exited;
    await removeTree(this.spec.dir);
  }
}
