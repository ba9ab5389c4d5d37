import { gunzipSync } from 'node:zlib';
import type { Environment } from '../environments/environment.ts';
import type { Inventory } from '../results/schema.ts';
import { parseCriuVersion, parseFeatureList } from '../criu/help.ts';
import { detectRuntimes } from '../runtimes/detect.ts';
import { InterruptedError } from '../errors.ts';
import { redactUrlsIn } from '../util/redact.ts';
import type { ProvisionedPool } from './pool-backend.ts';

export const KERNEL_FLAGS = [
  'CONFIG_CHECKPOINT_RESTORE',
  'CONFIG_NAMESPACES',
  'CONFIG_PID_NS',
  'CONFIG_NET_NS',
  'CONFIG_TIME_NS',
  'CONFIG_MEM_SOFT_DIRTY',
  'CONFIG_USERFAULTFD',
  'CONFIG_FHANDLE',
  'CONFIG_EVENTFD',
  'CONFIG_EPOLL',
  'CONFIG_INOTIFY_USER',
  'CONFIG_UNIX_DIAG',
  'CONFIG_INET_DIAG',
  'CONFIG_PACKET_DIAG',
  'CONFIG_NETLINK_DIAG',
  'CONFIG_TUN',
  'CONFIG_NF_TABLES',
  'CONFIG_OVERLAY_FS',
] as const;

/** CONFIG_X=y|m|value → value; "# CONFIG_X is not set" → null; absent flags are left out. */
export function parseKernelConfig(text: string, flags: readonly string[] = KERNEL_FLAGS): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const wanted = new Set(flags);
  for (const line of text.split('\n')) {
    let m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m && wanted.has(m[1]!)) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    m = /^# (CONFIG_[A-Z0-9_]+) is not set$/.exec(line);
    if (m && wanted.has(m[1]!)) out[m[1]!] = null;
  }
  return out;
}

/** From a mountinfo: cgroup2 at /sys/fs/cgroup → v2; cgroup2 below it (e.g. unified) → hybrid; only v1 → v1. */
export function cgroupModeOf(mountinfo: string): Inventory['cgroupMode'] {
  let v1 = false;
  let v2root = false;
  let v2below = false;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4] ?? '';
    const fstype = right.split(' ')[0];
    if (fstype === 'cgroup2') {
      if (mountPoint === '/sys/fs/cgroup') v2root = true;
      else if (mountPoint.startsWith('/sys/fs/cgroup/')) v2below = true;
    } else if (fstype === 'cgroup' && mountPoint.startsWith('/sys/fs/cgroup')) v1 = true;
  }
  if (v2root && !v1) return 'v2';
  if (v1 && (v2below || v2root)) return 'hybrid';
  if (v1) return 'v1';
  return 'unknown';
}

export interface InventoryProbe {
  inventory: Inventory;
  features: string[];
}

/** Reads what a pool is made of, from inside its environment. */
export async function takeInventory(
  env: Environment,
  packages: Record<string, string>,
  criuEnv: Record<string, string>,
  timeoutMs: number,
  hwBreakpointsProbe: string,
  /** The kernel's .config when known from outside (a VM kernel's package); else /proc/config.gz is read. */
  kernelConfigText?: string,
): Promise<InventoryProbe> {
  const sh = (cmd: string) => env.exec(['sh', '-c', cmd], { timeoutMs, env: criuEnv });
  const [uname, version, help, libc, mountinfo, cpuinfo, hwbp, runtimes] = await Promise.all([
    sh('uname -r'),
    sh('criu --version'),
    sh('criu --help'),
    sh('getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n 1'),
    sh('cat /proc/self/mountinfo'),
    // The first processor's block: every vCPU of a node has the same model and flags.
    sh("sed -n '1,/^$/p' /proc/cpuinfo"),
    env.exec([hwBreakpointsProbe], { timeoutMs }),
    detectRuntimes(env, timeoutMs),
  ]);
  let kernelConfig: Record<string, string | null> | null = null;
  try {
    kernelConfig = parseKernelConfig(kernelConfigText ?? gunzipSync(await env.readFile('/proc/config.gz')).toString('utf8'));
  } catch {
    kernelConfig = null; // not every kernel exposes its config
  }
  const wanted = ['criu', 'libc6', 'iptables', 'nftables', 'iproute2', 'runc', 'crun', 'podman', 'libprotobuf-c1'];
  return {
    inventory: {
      kernelRelease: uname.stdout.trim(),
      kernelConfig,
      criuVersion: parseCriuVersion(version.stdout) ?? null,
      libc: libc.exitCode === 0 && libc.stdout.trim() ? libc.stdout.trim() : null,
      cgroupMode: cgroupModeOf(mountinfo.stdout),
      hwBreakpoints: parseHwBreakpoints(hwbp.stdout),
      cpu: cpuinfo.exitCode === 0 ? parseCpuInfo(cpuinfo.stdout) : null,
      runtimes,
      packages: Object.fromEntries(wanted.filter((p) => packages[p]).map((p) => [p, packages[p]!])),
    },
    features: parseFeatureList(help.stdout + help.stderr),
  };
}

/** The "model name" and "flags" of a /proc/cpuinfo block (x86); null when it has no flags line. */
export function parseCpuInfo(text: string): NonNullable<Inventory['cpu']> | null {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const flags = field('flags');
  if (flags === undefined) return null;
  return { model: field('model name') ?? 'unknown', flags: flags.split(/\s+/).filter(Boolean) };
}

/** "hw-breakpoints: yes" / "hw-breakpoints: no (why)" / anything else → unknown. */
export function parseHwBreakpoints(out: string): { works: boolean | null; detail: string } {
  const m = /^hw-breakpoints: (yes|no|unknown)\b\s*(.*)$/m.exec(out);
  if (!m) return { works: null, detail: out.trim() || 'probe gave no answer' };
  return { works: m[1] === 'yes' ? true : m[1] === 'no' ? false : null, detail: m[2]!.replace(/^\((.*)\)$/, '$1') || m[1]! };
}

/**
 * The one inventory probe every backend calls once a pool is up: copies the
 * hw-breakpoints probe into ENV (a short-lived session of the pool), reads the
 * inventory, and records it with the CRIU features and container runtimes the
 * suites will use. EXTRAS are the backend's own part (vm, container).
 */
export async function probePool(
  p: ProvisionedPool,
  env: Environment,
  o: { hwBreakpoints: string; commandMs: number; kernelConfig?: string | undefined; extras?: Pick<Inventory, 'vm' | 'container'> },
): Promise<Inventory> {
  await env.copyIn(o.hwBreakpoints, `${env.workDir}/hw-breakpoints`);
  const probe = await takeInventory(env, p.image?.packages ?? {}, p.pool.criu.env, o.commandMs, `${env.workDir}/hw-breakpoints`, o.kernelConfig);
  p.planned.features = probe.features;
  p.planned.criuVersion = probe.inventory.criuVersion;
  p.planned.cpu = probe.inventory.cpu ?? null;
  p.planned.hwBreakpoints = probe.inventory.hwBreakpoints.works;
  p.planned.runtimes = probe.inventory.runtimes ?? [];
  const inventory: Inventory = { ...probe.inventory, ...o.extras };
  p.inventory = inventory;
  return inventory;
}

/** A pool that could not be provisioned or started: it carries the error (its cells become ERROR); the others go on. */
export function failPool(p: ProvisionedPool, e: unknown, progress: (pool: string, what: string) => void, log?: string[]): void {
  // apt and debootstrap errors name the mirror, which may carry credentials.
  p.planned.error = redactUrlsIn(`${(e as Error).name}: ${(e as Error).message}`);
  if (log) p.planned.errorLog = log;
  progress(p.pool.name, e instanceof InterruptedError ? `stopped: ${redactUrlsIn((e as Error).message)}` : `ERROR: ${redactUrlsIn((e as Error).message)}`);
}
