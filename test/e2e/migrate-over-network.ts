/**
 * Bare migrations between two nodes of the run's network, as the e2e test
 * drives them: CRIU's own commands through the typed builders, the images
 * (without pages) copied through the host, the workload's own verdict on the
 * destination. Each returns the steps it got through and, when one failed,
 * CRIU's own words.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Criu, describeFailure, type CriuRun } from '../../src/criu/driver.ts';
import type { Environment, ExecResult } from '../../src/environments/environment.ts';
import { poll } from '../../src/util/wait-until.ts';
import { Workload } from '../../src/workloads/protocol.ts';

export interface Node {
  env: Environment;
  criu: Criu;
  name: string;
  /** The pool's CRIU environment (CRIU_FAULT…), for a command that runs in the background. */
  criuEnv: Record<string, string>;
}

/** A CRIU command that runs while others go on (a lazy dump serving pages, the lazy-pages daemon): stop() ends it if it is still there. */
function background(n: Node, start: (c: Criu) => Promise<CriuRun>): { done: () => CriuRun | undefined; result: Promise<CriuRun | undefined>; stop: () => Promise<CriuRun | undefined> } {
  const ctl = new AbortController();
  const c = new Criu(n.env, n.criuEnv, 4 * MS);
  c.signal = ctl.signal;
  let done: CriuRun | undefined;
  const result = start(c).then(
    (r) => (done = r),
    () => undefined,
  );
  return { done: () => done, result, stop: async () => (ctl.abort(), result) };
}

export interface Migration {
  /** What got done, in order; the last one says how it ended (PASS, or what failed). */
  steps: string[];
  /** Why it failed: CRIU's diagnosis and log excerpt. */
  log: string;
  /** Bytes of pages-*.img in the source's image directory after the dump. */
  pagesOnSource: number;
  /** Bytes of pages-*.img in the destination's image directory before the restore. */
  pagesOnDestination: number;
  /** When the restore failed: the verdict of the source's own tree (unfrozen by the failed dump), the playbook's fallback. */
  fallback?: string;
}

/** Where the workload binary lives: the same path on every node (CRIU restores the executable by path). */
const BIN = '/run/criu-compat/net/bin/counter';
const MS = 30_000;


/** A one-shot TCP server (perl, in every Debian node image) on SERVER says hello; the client's bash reads it from ADDRESS:PORT. */
export async function tcpGreeting(server: Node, address: string, port: number, client: (argv: readonly string[]) => Promise<ExecResult>): Promise<string> {
  const code = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 1, ReuseAddr => 1) or die "listen: $!"; my $c = $s->accept; print $c "hello from $ARGV[2]\\n"; close $c;';
  await server.env.spawnDetached(['timeout', '60', 'perl', '-e', code, address, String(port), server.name], { outFile: `${server.env.workDir}/tcp-${port}.out` });
  if (!(await server.env.network!.waitListening(port, { timeoutMs: MS }))) throw new Error(`${server.name}: nothing listens on ${address}:${port}`);
  const r = await client(['timeout', '10', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port} && read -r line <&3 && echo "$line"`]);
  if (r.exitCode !== 0) throw new Error(`client could not read from ${address}:${port}: exit ${r.exitCode} ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function pageBytes(env: Environment, dir: string): Promise<number> {
  const r = await env.exec(['sh', '-c', 'cat "$1"/pages-*.img 2>/dev/null | wc -c', 'sh', dir], { timeoutMs: MS });
  return Number(r.stdout.trim());
}

/** Copies the image files (not the logs, not what is there already) of SRC:dir to DST:dir through a root-only host directory, and FILE (the workload's output) with its mode. */
async function transfer(src: Environment, dst: Environment, dir: string, file: string): Promise<void> {
  const host = await mkdtemp(join(tmpdir(), 'criu-compat-run-xfer-'));
  try {
    const out = await src.copyOut(dir, join(host, 'img'));
    const have = new Set((await dst.exec(['ls', dir], { timeoutMs: MS })).stdout.split('\n'));
    for (const f of await readdir(out)) if (!f.endsWith('.log') && !have.has(f)) await dst.copyIn(join(out, f), `${dir}/${f}`);
    const mode = parseInt((await src.exec(['stat', '-c', '%a', file], { timeoutMs: MS })).stdout.trim(), 8);
    await dst.writeFile(file, await src.readFile(file), mode);
  } finally {
    await rm(host, { recursive: true, force: true });
  }
}

/** CPU flags whose absence on the destination glibc's own tunables can hide from a process at start (its string functions are chosen then). */
const GLIBC_HWCAPS = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl', 'avx2', 'avx', 'fma', 'bmi1', 'bmi2', 'lzcnt', 'movbe', 'erms', 'fsrm', 'rtm'];

async function statusField(env: Environment, field: string): Promise<bigint> {
  const r = await env.exec(['grep', `^${field}:`, '/proc/self/status'], { timeoutMs: MS });
  return BigInt(`0x${r.stdout.split(':')[1]!.trim()}`);
}

async function cpuFlags(env: Environment): Promise<Set<string>> {
  const r = await env.exec(['grep', '-m1', '^flags', '/proc/cpuinfo'], { timeoutMs: MS });
  return new Set(r.stdout.split(':')[1]!.trim().split(/\s+/));
}

/**
 * How to start the workload on SRC so that DST can run it: without the
 * capabilities DST's sessions lack (CRIU restores the bounding set and
 * fails with EPERM otherwise) and with glibc told not to use CPU features
 * DST lacks (else the restored process dies of SIGILL in memcpy).
 */
export async function portableLaunch(src: Node, dst: Node): Promise<{ argv: string[]; dropped: string[] }> {
  const [sb, db] = [await statusField(src.env, 'CapBnd'), await statusField(dst.env, 'CapBnd')];
  const caps: string[] = [];
  for (let i = 0n; i < 64n; i++) if (sb & (1n << i) && !(db & (1n << i))) caps.push(`-cap_${i}`);
  const [sf, df] = [await cpuFlags(src.env), await cpuFlags(dst.env)];
  const hw = GLIBC_HWCAPS.filter((f) => sf.has(f) && !df.has(f)).map((f) => `-${f.toUpperCase()}`);
  const argv = [...(caps.length ? ['/usr/bin/setpriv', '--bounding-set', caps.join(',')] : []), ...(hw.length ? ['/usr/bin/env', `GLIBC_TUNABLES=glibc.cpu.hwcaps=${hw.join(',')}`] : [])];
  return { argv, dropped: [...caps, ...hw] };
}

/** Both nodes: the directory, the binary at the same path; the source's next PIDs far above a VM's kernel threads (the restore needs the same PID free on the destination). */
async function prepare(src: Node, dst: Node, o: { bin: string; dir: string; portable: boolean }): Promise<Workload> {
  for (const n of [src, dst]) {
    await n.env.makeDir(`${o.dir}/img`);
    await n.env.makeDir('/run/criu-compat/net/bin');
    // The same binary every time: copied once (a restored counter still exiting keeps it busy).
    if ((await n.env.exec(['test', '-x', BIN], { timeoutMs: MS })).exitCode !== 0) await n.env.copyIn(o.bin, BIN);
  }
  await src.env.exec(['sh', '-c', 'echo 200000 > /proc/sys/kernel/ns_last_pid'], { timeoutMs: MS });
  const launch = o.portable ? (await portableLaunch(src, dst)).argv : [];
  const [binary, ...args] = [...launch, BIN];
  return new Workload(src.env, 'counter', binary!, `${o.dir}/workload.out`, args);
}

/** A stopped CRIU's own log: its error lines (and the last lines), read from the node, for a run that had to be stopped. */
async function logErrors(n: Node, file: string): Promise<string> {
  const r = await n.env.exec(['sh', '-c', `{ grep -E 'Error|FAILED' '${file}'; tail -n 5 '${file}'; } 2>/dev/null | tail -n 40`], { timeoutMs: MS }).catch(() => undefined);
  return `stopped; its log: ${r?.stdout.trim() || '(none)'}`;
}

function failed(m: Migration, step: string, run: CriuRun): Migration {
  m.steps.push(`${step} failed`);
  m.log = `${describeFailure(`criu ${step}`, run, MS)}\n${run.excerpt.join('\n')}`;
  return m;
}

async function verdict(dst: Node, pid: number, outFile: string, m: Migration): Promise<void> {
  const w = new Workload(dst.env, 'counter', BIN, outFile);
  w.pid = pid;
  const v = await w.verdict(MS);
  await w.waitGone(5000);
  m.steps.push(v.status === 'PASS' ? 'PASS' : v.status === 'FAIL' ? `FAIL: ${v.message}` : `no verdict (alive: ${v.alive})`);
  if (v.status !== 'PASS') {
    const kernel = await dst.env.exec(['sh', '-c', 'dmesg | grep -E "counter|traps" | tail -3'], { timeoutMs: MS }).catch(() => undefined);
    m.log += `${(await w.lines()).join('\n')}\n--- kernel: ${kernel?.stdout.trim() ?? ''}`;
  }
}

/** `criu page-server` on DST, `criu dump --page-server` on SRC, the other images copied, `criu restore` on DST. */
export async function pageServerMigrate(src: Node, dst: Node, o: { bin: string; port: number; dir: string; portable: boolean }): Promise<Migration> {
  const m: Migration = { steps: [], log: '', pagesOnSource: 0, pagesOnDestination: 0 };
  const img = `${o.dir}/img`;
  const wl = await prepare(src, dst, o);
  await wl.start();
  if (!(await wl.waitReady(MS)).ok) throw new Error(`${src.name}: counter not ready: ${(await wl.lines()).join(' | ')}`);
  const to = { address: dst.env.network!.address, port: o.port };
  const ps = await dst.criu.pageServer({ imagesDir: img, port: o.port, address: to.address, daemon: true, logFile: 'page-server.log', verbosity: 4 });
  if (!ps.ok) return failed(m, 'page-server', ps);
  m.steps.push('page-server');
  const dump = await src.criu.dump({ pid: wl.pid, imagesDir: img, logFile: 'dump.log', verbosity: 4, pageServer: to });
  if (!dump.ok) return (await wl.kill(), failed(m, 'dump', dump));
  m.steps.push('dump');
  m.pagesOnSource = await pageBytes(src.env, img);
  await transfer(src.env, dst.env, img, wl.outFile);
  m.steps.push('copy');
  m.pagesOnDestination = await pageBytes(dst.env, img);
  const restore = await dst.criu.restore({ detach: true, imagesDir: img, logFile: 'restore.log', verbosity: 4 });
  if (!restore.ok) return failed(m, 'restore', restore);
  m.steps.push('restore');
  await verdict(dst, wl.pid, wl.outFile, m);
  return m;
}

/**
 * `criu dump --lazy-pages --address SRC` (the frozen source serves its
 * memory), the images copied, `criu lazy-pages --page-server` and
 * `criu restore --lazy-pages` on DST: the restored tree faults its memory in
 * over the network (userfaultfd on DST).
 */
export async function lazyMigrate(src: Node, dst: Node, o: { bin: string; port: number; dir: string; portable: boolean }): Promise<Migration> {
  const m: Migration = { steps: [], log: '', pagesOnSource: 0, pagesOnDestination: 0 };
  const img = `${o.dir}/img`;
  const wl = await prepare(src, dst, o);
  await wl.start();
  if (!(await wl.waitReady(MS)).ok) throw new Error(`${src.name}: counter not ready: ${(await wl.lines()).join(' | ')}`);
  const from = { address: src.env.network!.address, port: o.port };
  const dumping = background(src, (c) => c.dump({ pid: wl.pid, imagesDir: img, logFile: 'dump.log', verbosity: 4, lazyPages: true, lazyListen: from }));
  if (!(await src.env.network!.waitListening(o.port, { timeoutMs: MS, stopIf: () => dumping.done() !== undefined }))) {
    const r = await dumping.stop();
    await wl.kill();
    if (!r) throw new Error(`${src.name}: the lazy dump neither listened on ${from.port} nor ended within ${MS} ms`);
    return failed(m, 'dump', r);
  }
  m.steps.push('dump');
  m.pagesOnSource = await pageBytes(src.env, img);
  await transfer(src.env, dst.env, img, wl.outFile);
  m.steps.push('copy');
  m.pagesOnDestination = await pageBytes(dst.env, img);
  const lazy = background(dst, (c) => c.lazyPages({ from, imagesDir: img, logFile: 'lazy-pages.log', verbosity: 4 }));
  const both = async () => {
    // A source whose page server failed ends on its own a moment later: give it that (bounded) before stopping it, so its log says why.
    await poll(async () => (lazy.done() && dumping.done() ? true : undefined), { intervalMs: 100, timeoutMs: 10_000 });
    const [l, d] = [await lazy.stop(), await dumping.stop()];
    m.log += `\n--- lazy-pages: ${l?.excerpt.join('\n') ?? await logErrors(dst, `${img}/lazy-pages.log`)}\n--- dump: ${d?.excerpt.join('\n') ?? await logErrors(src, `${img}/dump.log`)}`;
    return [l, d] as const;
  };
  const socket = await poll(async () => ((await dst.env.exec(['test', '-S', `${img}/lazy-pages.socket`], { timeoutMs: MS })).exitCode === 0 ? true : lazy.done() ? false : undefined), { intervalMs: 50, timeoutMs: MS });
  if (!socket) {
    m.steps.push('lazy-pages failed');
    await both();
    await wl.kill();
    return m;
  }
  m.steps.push('lazy-pages');
  const restore = await dst.criu.restore({ detach: true, imagesDir: img, lazyPages: true, logFile: 'restore.log', verbosity: 4 });
  if (!restore.ok) {
    failed(m, 'restore', restore);
    await both();
    // A failed lazy transfer unfreezes the source tree: it must still be healthy (its own verdict).
    const v = await wl.verdict(MS);
    m.fallback = v.status === 'FAIL' ? `FAIL: ${v.message}` : v.status;
    await wl.kill();
    return m;
  }
  m.steps.push('restore');
  await verdict(dst, wl.pid, wl.outFile, m);
  // Both end on their own once every page went over; wait for that (bounded), then stop what is left.
  await poll(async () => (lazy.done() && dumping.done() ? true : undefined), { intervalMs: 100, timeoutMs: MS });
  const [l, d] = [lazy.done(), dumping.done()];
  m.steps.push(l?.ok ? 'lazy-pages done' : l ? `lazy-pages exit ${l.result.exitCode}` : 'lazy-pages still running');
  m.steps.push(d?.ok ? 'dump done' : d ? `dump exit ${d.result.exitCode}` : 'dump still running');
  if (!l?.ok || !d?.ok) await both();
  return m;
}
