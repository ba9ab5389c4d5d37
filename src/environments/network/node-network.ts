import { open, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../../errors.ts';
import { isAlive, mkdirPrivate, removeTree } from '../../util/fs.ts';
import { run } from '../../util/process.ts';

/**
 * The run's node network: one host bridge with no host address (so no
 * route, no firewall rule and nothing of the host is reachable from it; two
 * runs may use the same /24 without seeing each other), a private /24 and an
 * address allocator every process of the run shares (claim files in a state
 * directory, so suite workers allocate without talking to each other).
 *
 * Every name carries the run's PID: teardown removes every link and netns
 * with it (whoever made them: the runner, a backend, a suite worker), and a
 * later run sweeps those of a run whose process is gone (kill -9).
 */
export interface NodeNetworkSpec {
  /** The run's PID, in every name. */
  runPid: number;
  /** The host bridge (≤ 15 characters). */
  bridge: string;
  /** The /24's first three octets, e.g. "10.123.45". */
  prefix: string;
  prefixLen: 24;
  /** Root-only host directory of the address claims. */
  stateDir: string;
}

/** What a node's interface on the run's network is (on every Environment that has one). */
export interface NodeAddress {
  /** The node's own address on the bridge. */
  address: string;
  prefixLen: number;
  /** The interface inside the node. */
  iface: string;
}

export const NETWORK_STATE_PREFIX = 'criu-compat-net-';
/** Host names: bridge ccbrPID; node veth ccvPIDxN; VM tap cctPIDxN; client netns ccnPIDxN. */
const NAME_RE = /^cc(?:br|v|t|n)(\d+)(?:x\d+)?$/;
const IP_TIMEOUT_MS = 10_000;

export const bridgeName = (runPid: number) => `ccbr${runPid}`;
export const vethName = (runPid: number, i: number) => `ccv${runPid}x${i}`;
export const tapName = (runPid: number, i: number) => `cct${runPid}x${i}`;
export const clientNetnsName = (runPid: number, i: number) => `ccn${runPid}x${i}`;

/** The address of host number I (2…254) of the run's /24. */
export const addressOf = (spec: NodeNetworkSpec, i: number) => `${spec.prefix}.${i}`;

/** A locally administered, per-run unique MAC for host number I (QEMU's default MAC is the same in every VM). */
export function macOf(spec: NodeNetworkSpec, i: number): string {
  const b = [0x52, 0x54, (spec.runPid >> 16) & 0xff, (spec.runPid >> 8) & 0xff, spec.runPid & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Runs ip(8) on the host; throws EnvironmentError with its message when it fails. */
export async function ip(args: readonly string[], what: string): Promise<void> {
  const r = await run(['ip', ...args], { timeoutMs: IP_TIMEOUT_MS });
  if (r.exitCode !== 0)
    throw new EnvironmentError(`node network: ${what} failed: ip ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}${r.exitCode === 127 ? ' (apt-get install iproute2)' : ''}`);
}

/**
 * Creates the run's bridge, up, with no address. Call sweepStaleNetworks()
 * first; teardownNodeNetwork() always (it is idempotent).
 */
export async function createNodeNetwork(runPid = process.pid): Promise<NodeNetworkSpec> {
  const spec: NodeNetworkSpec = {
    runPid,
    bridge: bridgeName(runPid),
    prefix: `10.${100 + (Math.floor(runPid / 256) % 150)}.${runPid % 256}`,
    prefixLen: 24,
    stateDir: join(tmpdir(), `${NETWORK_STATE_PREFIX}${runPid}-state`),
  };
  await removeTree(spec.stateDir);
  await mkdirPrivate(spec.stateDir);
  try {
    await ip(['link', 'add', 'name', spec.bridge, 'type', 'bridge'], `creating bridge ${spec.bridge}`);
    await ip(['link', 'set', spec.bridge, 'up'], `bringing ${spec.bridge} up`);
  } catch (e) {
    await teardownNodeNetwork(spec);
    throw e;
  }
  return spec;
}

/**
 * Claims the next free host number of the run's /24 (2…254), for a node or
 * a service address (`addressOf(spec, await claimHost(spec, 'service'))`);
 * shared by every process of the run.
 */
export async function claimHost(spec: NodeNetworkSpec, what: string): Promise<number> {
  for (let i = 2; i <= 254; i++) {
    try {
      const f = await open(join(spec.stateDir, String(i)), 'wx', 0o600);
      await f.writeFile(`${process.pid} ${what}\n`);
      await f.close();
      return i;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new EnvironmentError(`node network ${spec.bridge}: cannot claim an address in ${spec.stateDir}: ${(e as Error).message}`, { cause: e });
    }
  }
  throw new EnvironmentError(`node network ${spec.bridge}: all 253 addresses of ${spec.prefix}.0/24 are taken (nodes + service addresses of one run)`);
}

interface Leftovers {
  links: string[];
  netns: string[];
}

/** Links and named netns whose name carries a PID that PIDS selects. */
async function namedOf(pids: (pid: number) => boolean): Promise<Leftovers> {
  const links = await run(['ip', '-o', 'link', 'show'], { timeoutMs: IP_TIMEOUT_MS });
  const names = [...links.stdout.matchAll(/^\d+:\s+([^:@\s]+)[@:]/gm)].map((m) => m[1]!);
  const ns = await run(['ip', 'netns', 'list'], { timeoutMs: IP_TIMEOUT_MS });
  const nsNames = ns.stdout.split('\n').map((l) => l.split(/\s/)[0]!).filter(Boolean);
  const sel = (n: string) => {
    const m = NAME_RE.exec(n);
    return m !== null && pids(Number(m[1]));
  };
  return { links: names.filter(sel), netns: nsNames.filter(sel) };
}

/** What of run RUNPID's network is still there (for checks: nothing after teardown). */
export function leftoversOf(runPid: number): Promise<Leftovers> {
  return namedOf((p) => p === runPid);
}

async function removeAll(l: Leftovers): Promise<void> {
  // Netns first: their veth ends go with them, and so do the host ends.
  for (const n of l.netns) await run(['ip', 'netns', 'delete', n], { timeoutMs: IP_TIMEOUT_MS });
  // Ports before the bridge; a veth takes its peer with it. Links already gone are fine.
  for (const n of [...l.links.filter((x) => !x.startsWith('ccbr')), ...l.links.filter((x) => x.startsWith('ccbr'))])
    await run(['ip', 'link', 'delete', n], { timeoutMs: IP_TIMEOUT_MS });
}

/** Removes every link and netns of the run (by the PID in their names) and its state directory. Idempotent; never throws. */
export async function teardownNodeNetwork(spec: Pick<NodeNetworkSpec, 'runPid' | 'stateDir'>): Promise<void> {
  try {
    await removeAll(await leftoversOf(spec.runPid));
  } finally {
    await removeTree(spec.stateDir);
  }
}

/** Bridges, taps, veths and netns of runs whose process is gone, and their state directories: removed. */
export async function sweepStaleNetworks(): Promise<void> {
  await removeAll(await namedOf((p) => p !== process.pid && !isAlive(p)));
  for (const e of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${NETWORK_STATE_PREFIX}(\\d+)-`).exec(e);
    if (m && !isAlive(Number(m[1]))) await removeTree(join(tmpdir(), e));
  }
}
