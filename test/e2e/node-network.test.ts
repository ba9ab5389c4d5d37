/**
 * The run's node network for real: a namespace node (host kernel, Debian 13
 * image) and a VM (Debian's 6.12 kernel, same image) on one host bridge, and
 * a bare "third node" netns. TCP flows between all of them; a service
 * address moves from one node to the other; CRIU's page server and lazy pages
 * migrate the counter workload between the two nodes over that network; and
 * nothing of the network is left afterwards, also when its process is
 * killed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { containerBackend } from '../../src/backends/container/container-backend.ts';
import { namespaceBackend } from '../../src/backends/namespace/namespace-backend.ts';
import type { ProvisionedPool, StartContext } from '../../src/backends/pool-backend.ts';
import { qemuBackend } from '../../src/backends/qemu/qemu-backend.ts';
import { parseConfig } from '../../src/config/load.ts';
import { Criu } from '../../src/criu/driver.ts';
import type { Environment } from '../../src/environments/environment.ts';
import { ClientNode } from '../../src/environments/network/client-node.ts';
import { addressOf, claimHost, createNodeNetwork, leftoversOf, sweepStaleNetworks, teardownNodeNetwork, type NodeNetworkSpec } from '../../src/environments/network/node-network.ts';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { buildNatives, provisionPools, PROJECT_ROOT } from '../../src/runner/provision.ts';
import { Progress } from '../../src/runner/progress.ts';
import { run } from '../../src/util/process.ts';
import { tempDir, waitFor } from './harness.ts';
import { lazyMigrate, pageServerMigrate, portableLaunch, tcpGreeting, type Node } from './migrate-over-network.ts';

const CONFIG = `
pools:
  - name: ns-trixie
    kernel: host
    image: debian-trixie
    criu: {env: {CRIU_FAULT: "130"}}
  - name: vm-trixie
    kernel: debian/trixie
    image: debian-trixie
    vm: {memoryMiB: 1024}
  - name: vm61-trixie
    kernel: debian/bookworm
    image: debian-trixie
    vm: {memoryMiB: 1024}
settings:
  workloads: [counter]
  suites: [round-trip]
`;

const CONTAINER_CONFIG = `
pools:
  - name: ns-trixie
    kernel: host
    image: debian-trixie
    criu: {env: {CRIU_FAULT: "130"}}
  - name: ct-trixie
    kernel: host
    backend: container
    image: debian-trixie
    criu: {env: {CRIU_FAULT: "130"}}
settings:
  workloads: [counter]
  suites: [round-trip]
`;

describe('node network', () => {
  const cacheDir = defaultCacheDir();
  let network: NodeNetworkSpec;
  let stops: (() => Promise<void>)[] = [];
  let ns: Node;
  let vm: Node;
  let vm61: Node;
  let guard = '';
  let bin = '';
  const envs: Environment[] = [];

  beforeAll(async () => {
    const loaded = parseConfig(CONFIG, 'node-network.e2e');
    const natives = await buildNatives(cacheDir, ['counter']);
    bin = natives.workloads.counter!;
    guard = natives.guard;
    const workRoot = tempDir('criu-compat-run-net-');
    const pools = await provisionPools(loaded, loaded.config.pools, { cacheDir, workRoot, natives, progress: new Progress(process.stderr, false) });
    for (const p of pools) expect(p.planned.error, p.pool.name).toBeUndefined();
    await sweepStaleNetworks();
    network = await createNodeNetwork();
    const memo = new Map<string, Promise<unknown>>();
    const t = loaded.config.settings.timeouts;
    const ctx: StartContext = {
      loaded, cacheDir, workRoot, natives, timeouts: t, sessions: ['net'], accel: 'auto', network,
      progress: () => undefined,
      once: <T,>(k: string, make: () => Promise<T>) => (memo.get(k) ?? memo.set(k, make()).get(k)) as Promise<T>,
    };
    const [nsPool, vmPool, vm61Pool] = pools as [ProvisionedPool, ProvisionedPool, ProvisionedPool];
    stops = [await namespaceBackend.start([nsPool], ctx), await qemuBackend.start([vmPool, vm61Pool], ctx)];
    for (const p of pools) expect(p.planned.error, p.pool.name).toBeUndefined();
    const sctx = { helper: natives.helper, timeoutMs: t.environmentMs, network };
    const open = async (p: ProvisionedPool, backend: typeof qemuBackend): Promise<Node> => {
      const env = await backend.openSession(p.planned, 'net', sctx);
      envs.push(env);
      return { env, criu: new Criu(env, p.planned.criuEnv, t.criuMs, { hwBreakpoints: p.planned.hwBreakpoints ?? null }), name: p.pool.name, criuEnv: p.planned.criuEnv };
    };
    ns = await open(nsPool, namespaceBackend);
    vm = await open(vmPool, qemuBackend);
    vm61 = await open(vm61Pool, qemuBackend);
  }, 1_200_000);

  afterAll(async () => {
    for (const e of envs) await e.dispose();
    for (const s of stops) await s();
    if (network) await teardownNodeNetwork(network);
  }, 120_000);

  test('every node has its own address on the bridge; TCP flows namespace ↔ VM ↔ client; a service address moves from one node to the other', async () => {
    expect(ns.env.network!.iface).toBe('eth0');
    expect(ns.env.network!.address.startsWith(`${network.prefix}.`)).toBe(true);
    expect(vm.env.network!.address.startsWith(`${network.prefix}.`)).toBe(true);
    expect(vm.env.network!.address).not.toBe(ns.env.network!.address);
    expect(await ns.env.network!.addresses()).toEqual([ns.env.network!.address]);
    // The host has no address on the bridge: the nodes see each other, not the host.
    const br = await run(['ip', '-o', '-4', 'addr', 'show', 'dev', network.bridge], { timeoutMs: 5000 });
    expect(br.stdout.trim()).toBe('');

    expect(await tcpGreeting(ns, ns.env.network!.address, 7101, (argv) => vm.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from ns-trixie');
    expect(await tcpGreeting(vm, vm.env.network!.address, 7102, (argv) => ns.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from vm-trixie');

    const client = await ClientNode.start(network, 'e2e client', { guard });
    try {
      const fromClient = (argv: readonly string[]) => client.exec(argv, { timeoutMs: 20_000 });
      const service = addressOf(network, await claimHost(network, 'service'));
      await ns.env.network!.addAddress(service);
      expect(await tcpGreeting(ns, service, 7103, fromClient)).toBe('hello from ns-trixie');
      await ns.env.network!.removeAddress(service);
      // Nobody has it now: the client cannot connect (the check can fail).
      await client.flushNeighbours();
      const none = await fromClient(['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${service}/7104`]);
      expect(none.exitCode).not.toBe(0);
      await vm.env.network!.addAddress(service);
      await client.flushNeighbours();
      expect(await tcpGreeting(vm, service, 7105, fromClient)).toBe('hello from vm-trixie');
      expect(await vm.env.network!.addresses()).toEqual([vm.env.network!.address, service]);
      await vm.env.network!.removeAddress(service);
      // A long-lived client (what a network-continuity cell keeps connected across a migration): spawned, then killed by dispose.
      const hold = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 7106, Listen => 1, ReuseAddr => 1) or die; my $c = $s->accept; $c->autoflush(1); print $c "hello\\n"; sleep 60;';
      await vm.env.spawnDetached(['timeout', '90', 'perl', '-e', hold, vm.env.network!.address], { outFile: `${vm.env.workDir}/hold.out` });
      expect(await vm.env.network!.waitListening(7106, { timeoutMs: 20_000 })).toBe(true);
      const out = join(tempDir('criu-compat-e2e-'), 'client.out');
      const p = await client.spawn(['bash', '-c', `exec 3<>/dev/tcp/${vm.env.network!.address}/7106; cat <&3`], { outFile: out });
      expect(await waitFor(() => readFileSync(out, 'utf8').includes('hello'), 20_000)).toBe(true);
      await client.dispose();
      expect((await p.exited).signal).toBe('SIGKILL');
    } finally {
      await client.dispose();
    }
    expect((await leftoversOf(network.runPid)).netns).toEqual([]);
  }, 180_000);

  test('page-server migration VM (6.12) → namespace (host kernel): pages stream to the destination\'s page server, the restored counter PASSes', async () => {
    const r = await pageServerMigrate(vm, ns, { bin, port: 7201, dir: '/run/criu-compat/net/ps-vm-ns', portable: true });
    expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    // The pages went over the network: the source kept none, the destination has them (the counter's 16 MiB heap and more).
    expect(r.pagesOnSource).toBe(0);
    expect(r.pagesOnDestination).toBeGreaterThan(16 << 20);
  }, 300_000);

  test('page-server migration namespace (host kernel) → VM (6.12): PASS', async () => {
    const r = await pageServerMigrate(ns, vm, { bin, port: 7202, dir: '/run/criu-compat/net/ps-ns-vm', portable: true });
    expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    expect(r.pagesOnSource).toBe(0);
    expect(r.pagesOnDestination).toBeGreaterThan(16 << 20);
  }, 300_000);

  test('lazy migration VM (6.12) → namespace (host kernel, userfaultfd): memory pulled on demand from the frozen source, PASS', async () => {
    const r = await lazyMigrate(vm, ns, { bin, port: 7301, dir: '/run/criu-compat/net/lazy-vm-ns', portable: true });
    expect(r.steps, r.log).toEqual(['dump', 'copy', 'lazy-pages', 'restore', 'PASS', 'lazy-pages done', 'dump done']);
    // The heap never travelled as an image file: it came through the lazy-pages daemon.
    expect(r.pagesOnDestination).toBeLessThan(16 << 20);
  }, 300_000);

  test('lazy migration with the host kernel (6.18) as the source: its page server fails the first page request (CRIU 4.1.1: splice EBADF); the source tree, unfrozen, still PASSes', async () => {
    const r = await lazyMigrate(ns, vm, { bin, port: 7302, dir: '/run/criu-compat/net/lazy-ns-vm', portable: true });
    expect(r.steps, r.log).toEqual(['dump', 'copy', 'lazy-pages', 'restore failed']);
    expect(r.log).toMatch(/page-pipe: splice: -1: Bad file descriptor/);
    expect(r.log).toMatch(/Lazy pages transfer FAILED/);
    expect(r.fallback).toBe('PASS');
  }, 300_000);

  test('a workload started with the VM root\'s capabilities: a host namespace node without them refuses the restore', async () => {
    const dropped = (await portableLaunch(vm, ns)).dropped.filter((d) => d.startsWith('-cap_'));
    const r = await pageServerMigrate(vm, ns, { bin, port: 7203, dir: '/run/criu-compat/net/ps-vm-ns-caps', portable: false });
    if (!dropped.length) return expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    expect(dropped).toContain('-cap_24'); // CAP_SYS_RESOURCE, which this machine kind withholds (FIELD-NOTES)
    expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore failed']);
    expect(r.log).toMatch(/Unable to restore capabilities/);
  }, 300_000);

  test('a workload started on the host CPU, restored in the VM whose CPU has fewer features: CRIU restores it, it dies of SIGILL', async () => {
    const dropped = (await portableLaunch(ns, vm)).dropped.filter((d) => !d.startsWith('-cap_'));
    const r = await pageServerMigrate(ns, vm, { bin, port: 7204, dir: '/run/criu-compat/net/ps-ns-vm-cpu', portable: false });
    if (!dropped.length) return expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'no verdict (alive: false)']);
    expect(r.log).toMatch(/trap invalid opcode/);
  }, 300_000);

  test('two QEMU guests on the bridge (6.12 and 6.1, each its own MAC): TCP both ways; page-server and lazy migrations 6.12 → 6.1 PASS', async () => {
    expect(vm61.env.network!.address).not.toBe(vm.env.network!.address);
    expect(await tcpGreeting(vm, vm.env.network!.address, 7601, (argv) => vm61.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from vm-trixie');
    expect(await tcpGreeting(vm61, vm61.env.network!.address, 7602, (argv) => vm.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from vm61-trixie');
    const ps = await pageServerMigrate(vm, vm61, { bin, port: 7603, dir: '/run/criu-compat/net/ps-vm-vm61', portable: true });
    expect(ps.steps, ps.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    expect(ps.pagesOnSource).toBe(0);
    const lazy = await lazyMigrate(vm, vm61, { bin, port: 7604, dir: '/run/criu-compat/net/lazy-vm-vm61', portable: true });
    expect(lazy.steps, lazy.log).toEqual(['dump', 'copy', 'lazy-pages', 'restore', 'PASS', 'lazy-pages done', 'dump done']);
  }, 300_000);

  test('teardown leaves no bridge, tap, veth or netns of the run', async () => {
    for (const e of envs.splice(0)) await e.dispose();
    for (const s of stops.splice(0)) await s();
    await teardownNodeNetwork(network);
    expect(await leftoversOf(network.runPid)).toEqual({ links: [], netns: [] });
    const links = await run(['ip', '-o', 'link', 'show'], { timeoutMs: 5000 });
    expect(links.stdout).not.toContain(network.bridge);
  }, 120_000);
});

describe('node network with a node container', () => {
  const cacheDir = defaultCacheDir();
  let network: NodeNetworkSpec;
  let stops: (() => Promise<void>)[] = [];
  const envs: Environment[] = [];
  let ns: Node;
  let ct: Node;
  let bin = '';

  beforeAll(async () => {
    const loaded = parseConfig(CONTAINER_CONFIG, 'node-network-container.e2e');
    const natives = await buildNatives(cacheDir, ['counter']);
    bin = natives.workloads.counter!;
    const workRoot = tempDir('criu-compat-run-netc-');
    const pools = await provisionPools(loaded, loaded.config.pools, { cacheDir, workRoot, natives, progress: new Progress(process.stderr, false) });
    network = await createNodeNetwork();
    const t = loaded.config.settings.timeouts;
    const ctx: StartContext = { loaded, cacheDir, workRoot, natives, timeouts: t, sessions: ['net'], accel: 'auto', network, progress: () => undefined, once: (_k, make) => make() };
    const [nsPool, ctPool] = pools as [ProvisionedPool, ProvisionedPool];
    stops = [await namespaceBackend.start([nsPool], ctx), await containerBackend.start([ctPool], ctx)];
    for (const p of pools) expect(p.planned.error, p.pool.name).toBeUndefined();
    const sctx = { helper: natives.helper, timeoutMs: t.environmentMs, network };
    const open = async (p: ProvisionedPool, backend: typeof containerBackend): Promise<Node> => {
      const env = await backend.openSession(p.planned, 'net', sctx);
      envs.push(env);
      return { env, criu: new Criu(env, p.planned.criuEnv, t.criuMs, { hwBreakpoints: p.planned.hwBreakpoints ?? null }), name: p.pool.name, criuEnv: p.planned.criuEnv };
    };
    ns = await open(nsPool, namespaceBackend);
    ct = await open(ctPool, containerBackend);
  }, 900_000);

  afterAll(async () => {
    for (const e of envs) await e.dispose();
    for (const s of stops) await s();
    if (network) await teardownNodeNetwork(network);
  }, 120_000);

  test('the node container gets a veth in its own netns: TCP both ways with a namespace node; page-server migration container → namespace PASSes once the root directories agree; a lazy one fails at the host-kernel source as from a namespace node; nothing left', async () => {
    expect(ct.env.network!.address.startsWith(`${network.prefix}.`)).toBe(true);
    expect(await tcpGreeting(ct, ct.env.network!.address, 7501, (argv) => ns.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from ct-trixie');
    expect(await tcpGreeting(ns, ns.env.network!.address, 7502, (argv) => ct.env.exec(argv, { timeoutMs: 20_000 }))).toBe('hello from ns-trixie');
    // Filesystem truth: podman gives the container's root directory mode 0555, the namespace node's root is the image's 0755.
    const modes = [await ct.env.exec(['stat', '-c', '%a', '/'], { timeoutMs: 5000 }), await ns.env.exec(['stat', '-c', '%a', '/'], { timeoutMs: 5000 })].map((x) => x.stdout.trim());
    if (modes[0] !== modes[1]) {
      const refused = await pageServerMigrate(ct, ns, { bin, port: 7503, dir: '/run/criu-compat/net/ps-ct-ns-mode', portable: true });
      expect(refused.steps, refused.log).toEqual(['page-server', 'dump', 'copy', 'restore failed']);
      expect(refused.log).toContain(`File . has bad mode 040${modes[1]} (expect 040${modes[0]})`);
      await ct.env.exec(['chmod', modes[1]!, '/'], { timeoutMs: 5000 });
    }
    const r = await pageServerMigrate(ct, ns, { bin, port: 7504, dir: '/run/criu-compat/net/ps-ct-ns', portable: true });
    expect(r.steps, r.log).toEqual(['page-server', 'dump', 'copy', 'restore', 'PASS']);
    expect(r.pagesOnSource).toBe(0);
    // A lazy source on the host kernel fails the same way from a node container as from a namespace node: the kernel, not the backend.
    const lazy = await lazyMigrate(ct, ns, { bin, port: 7505, dir: '/run/criu-compat/net/lazy-ct-ns', portable: true });
    expect(lazy.steps, lazy.log).toEqual(['dump', 'copy', 'lazy-pages', 'restore failed']);
    expect(lazy.log).toMatch(/page-pipe: splice: -1: Bad file descriptor/);
    expect(lazy.fallback).toBe('PASS');
    for (const e of envs.splice(0)) await e.dispose();
    for (const s of stops.splice(0)) await s();
    await teardownNodeNetwork(network);
    expect(await leftoversOf(network.runPid)).toEqual({ links: [], netns: [] });
  }, 300_000);
});

describe('node network of a process that dies', () => {
  /** A process that makes a network with a namespace node and a client node on it, prints "up" and waits. */
  async function holder(): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<number | null>; sleeper: number }> {
    const cacheDir = defaultCacheDir();
    const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
    const script = join(tempDir('criu-compat-cfg-'), 'hold-network.ts');
    writeFileSync(
      script,
      `import { createNodeNetwork, teardownNodeNetwork } from '${PROJECT_ROOT}/src/environments/network/node-network.ts';
import { ClientNode } from '${PROJECT_ROOT}/src/environments/network/client-node.ts';
import { configureInside, plugNetns } from '${PROJECT_ROOT}/src/environments/network/node-link.ts';
import { NamespaceEnvironment } from '${PROJECT_ROOT}/src/environments/namespace/namespace-environment.ts';
import { buildNatives } from '${PROJECT_ROOT}/src/runner/provision.ts';
const [rootfs, cacheDir, work] = process.argv.slice(2);
const natives = await buildNatives(cacheDir, []);
const net = await createNodeNetwork();
process.on('SIGINT', () => void teardownNodeNetwork(net).then(() => process.exit(130)));
const env = await NamespaceEnvironment.start({ id: 'hold/net', rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 30000 });
env.network = await configureInside(env, await plugNetns(net, env.initPid, env.id));
const client = await ClientNode.start(net, 'hold client', { guard: natives.guard });
const sleeper = await client.spawn(['sleep', '300'], { outFile: work + '/sleep.out' });
console.log('up ' + env.network.address + ' sleeper ' + sleeper.pid);
setInterval(() => undefined, 1000);
`,
    );
    const child = spawn(process.execPath, [script, image.rootfs, cacheDir, tempDir('criu-compat-run-hold-')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    expect(await waitFor(() => /^up /m.test(out) || child.exitCode !== null, 60_000), out).toBe(true);
    expect(out).toMatch(/^up 10\.\d+\.\d+\.2 sleeper \d+$/m);
    return { child, exited, sleeper: Number(/sleeper (\d+)/.exec(out)![1]) };
  }

  test('Ctrl-C: its handler tears the network down (bridge, veth, client netns gone)', async () => {
    const { child, exited } = await holder();
    const before = await leftoversOf(child.pid!);
    expect(before.links).toEqual(expect.arrayContaining([`ccbr${child.pid}`, `ccv${child.pid}x2`, `ccv${child.pid}x3`]));
    expect(before.netns).toEqual([`ccn${child.pid}x3`]);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(await leftoversOf(child.pid!)).toEqual({ links: [], netns: [] });
  }, 120_000);

  test("kill -9: the namespace node's veth dies with it; the bridge and the client netns stay until the next sweep removes them", async () => {
    const { child, exited, sleeper } = await holder();
    child.kill('SIGKILL');
    await exited;
    // The client's process, started under cc-guard, died with it.
    expect(await waitFor(() => !existsSync(`/proc/${sleeper}`) || readFileSync(`/proc/${sleeper}/stat`, 'utf8').includes(') Z'), 5000)).toBe(true);
    // cc-ns's init dies with its parent (PDEATHSIG): its netns, and the veth in it, go at once.
    let stale = await leftoversOf(child.pid!);
    for (let i = 0; i < 50 && stale.links.includes(`ccv${child.pid}x2`); i++) {
      await new Promise((r) => setTimeout(r, 100));
      stale = await leftoversOf(child.pid!);
    }
    expect(stale.links.sort()).toEqual([`ccbr${child.pid}`, `ccv${child.pid}x3`].sort());
    expect(stale.netns).toEqual([`ccn${child.pid}x3`]);
    await sweepStaleNetworks();
    expect(await leftoversOf(child.pid!)).toEqual({ links: [], netns: [] });
  }, 120_000);
});
