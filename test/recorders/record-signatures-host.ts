/**
 * Recorder (run by hand, as root, never by vitest): drives the node images'
 * own CRIU in namespace nodes on this machine's kernel into failures the
 * knowledge base names (src/criu/signatures/*.yaml), and keeps their logs in
 * /tmp/sigs-rec (root-only). The fixtures under fixtures/recorded/criu-logs
 * are excerpts of them: decisive lines, no memory contents.
 *   node test/recorders/record-signatures-host.ts tcp ext-unix file-lock pid mntns-fd oom soft-dirty netlock versions
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { Criu } from '../../src/criu/driver.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { Workload } from '../../src/workloads/protocol.ts';

const OUT = '/tmp/sigs-rec';
mkdirSync(OUT, { recursive: true, mode: 0o700 });
const save = (f: string, t: string) => writeFileSync(`${OUT}/${f}`, t, { mode: 0o600 });
const which = process.argv.slice(2);
const cacheDir = defaultCacheDir();
const natives = await buildNatives(cacheDir, ['counter', 'tcp-established', 'unix-stream', 'big-mem', 'file-lock']);
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Node { env: NamespaceEnvironment; criu: Criu; hostDir: string; bin: (w: string) => string; name: string }
const nodes: Node[] = [];

async function node(name: string, image: string, criuEnv: Record<string, string> = {}): Promise<Node> {
  const img = await resolveImage(image, BUILTIN_IMAGES[image]!, { cacheDir, buildTimeoutMs: 900_000 });
  const hostDir = mkdtempSync('/tmp/cc-sigs-node-');
  const env = await NamespaceEnvironment.start({ id: name, rootfs: img.rootfs, hostWorkDir: hostDir, helper: natives.helper, timeoutMs: 30_000 });
  await env.makeDir(`${env.workDir}/bin`);
  for (const [w, b] of Object.entries(natives.workloads)) await env.copyIn(b, `${env.workDir}/bin/${w}`);
  const criu = new Criu(env, { PATH, HOME: '/root', LANG: 'C', ...criuEnv }, 60_000);
  const n = { env, criu, hostDir, bin: (w: string) => `${env.workDir}/bin/${w}`, name };
  nodes.push(n);
  return n;
}

const sh = (n: Node, cmd: string) => n.env.exec(['sh', '-c', cmd], { timeoutMs: 60_000, env: { PATH } });

async function start(n: Node, w: string, tag: string, args: string[] = []): Promise<Workload> {
  const wl = new Workload(n.env, w, n.bin(w), `${n.env.workDir}/${tag}.out`, args);
  await wl.start();
  if (!(await wl.waitReady(30_000)).ok) throw new Error(`${w} not ready: ${(await wl.lines()).join(' | ')}`);
  return wl;
}

async function criu(n: Node, tag: string, args: string[]) {
  const d = `${n.env.workDir}/${tag}`;
  await n.env.makeDir(d);
  const r = await n.criu.run([...args, '-D', d, '-o', 'criu.log', '-v4'], { logFile: `${d}/criu.log` });
  save(`${n.name}-${tag}.log`, r.text);
  console.error(`[${n.name} ${tag}] ok=${r.ok} exit=${r.result.exitCode} signal=${r.result.signal ?? '-'} diag=${r.diagnoses.map((x) => x.id).join(',') || '-'} | ${r.excerpt.filter((l) => /Error/.test(l)).slice(0, 3).join(' | ')}`);
  return { ...r, dir: d };
}

try {
  const trixie = await node('trixie', 'debian-trixie', { CRIU_FAULT: '130' });
  if (which.includes('tcp')) {
    const wl = await start(trixie, 'tcp-established', 'tcp');
    await criu(trixie, 'dump-tcp-no-option', ['dump', '-t', String(wl.pid)]);
    await criu(trixie, 'dump-tcp-established', ['dump', '-t', String(wl.pid), '--tcp-established']);
    await wl.kill();
  }
  if (which.includes('file-lock')) {
    const wl = await start(trixie, 'file-lock', 'flock');
    await criu(trixie, 'dump-file-lock-no-option', ['dump', '-t', String(wl.pid)]);
    await wl.kill();
  }
  if (which.includes('ext-unix')) {
    const wl = await start(trixie, 'unix-stream', 'unix');
    const child = (await sh(trixie, `cat /proc/${wl.pid}/task/${wl.pid}/children`)).stdout.trim().split(/\s+/)[0]!;
    await criu(trixie, 'dump-unix-child-only', ['dump', '-t', child]);
    await criu(trixie, 'dump-unix-child-only-shell-job', ['dump', '-t', child, '--shell-job']);
    await wl.kill();
  }
  if (which.includes('pid')) {
    const wl = await start(trixie, 'counter', 'pid');
    const d = await criu(trixie, 'dump-leave-running', ['dump', '-t', String(wl.pid), '--leave-running']);
    const r = await trixie.criu.run(['restore', '-d', '-D', d.dir, '-o', 'restore.log', '-v4'], { logFile: `${d.dir}/restore.log` });
    save('trixie-restore-while-running.log', r.text);
    console.error(`[restore while the original runs] ok=${r.ok} diag=${r.diagnoses.map((x) => x.id)}`);
    await wl.kill();
  }
  if (which.includes('mntns-fd')) {
    // A process of the node that holds a descriptor opened in the host's mount namespace.
    execFileSync('sh', ['-c', `exec 3</etc/hostname; nsenter -t ${trixie.env.initPid} -a -r -w sh -c 'setsid sleep 600 </dev/null >/dev/null 2>&1 &'`]);
    const pid = (await sh(trixie, 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = sleep ] && echo ${p#/proc/}; done')).stdout.trim().split('\n')[0]!;
    console.error(`sleep ${pid}: ${(await sh(trixie, `ls -l /proc/${pid}/fd`)).stdout}`);
    await criu(trixie, 'dump-fd-from-host-mntns', ['dump', '-t', pid]);
    await sh(trixie, `kill -9 ${pid}`);
  }
  if (which.includes('oom')) {
    const wl = await start(trixie, 'big-mem', 'oom', ['64']);
    const d = await criu(trixie, 'dump-big-mem', ['dump', '-t', String(wl.pid)]);
    const r = await sh(trixie, `ulimit -v 60000; CRIU_FAULT=130 criu restore -d -D ${d.dir} -o restore.log -v4; echo exit=$?`);
    const log = (await trixie.env.readFile(`${d.dir}/restore.log`).catch(() => Buffer.alloc(0))).toString();
    save('trixie-restore-big-mem-ulimit-v.log', `${log}\n${r.stdout}\n${r.stderr}`);
    console.error(`[oom] ${r.stdout.trim()} ${r.stderr.trim().slice(0, 300)}`);
    await wl.kill();
  }
  if (which.includes('soft-dirty')) {
    const r = await trixie.env.exec(['criu', 'check', '--all'], { timeoutMs: 60_000, env: { PATH } });
    save('trixie-check-all.log', `${r.stdout}\n${r.stderr}\nexit=${r.exitCode}`);
    const wl = await start(trixie, 'counter', 'pre');
    await criu(trixie, 'pre-dump', ['pre-dump', '-t', String(wl.pid)]);
    await criu(trixie, 'dump-track-mem', ['dump', '-t', String(wl.pid), '--track-mem']);
    await wl.kill();
  }
  if (which.includes('netlock')) {
    // CRIU 4.2.1 (sid) locks the network for --tcp-established; a PATH without /usr/sbin stands for a node image without iptables-restore.
    const sid = await node('sid-lock', 'debian-sid');
    const wl = await start(sid, 'tcp-established', 'lock');
    for (const [tag, path, extra] of [['dump-tcp-no-iptables-restore', '/usr/bin:/bin', []], ['dump-tcp-nftables-lock', PATH, ['--network-lock', 'nftables']]] as const) {
      const d = `${sid.env.workDir}/${tag}`;
      await sid.env.makeDir(d);
      const r = await sid.env.exec(['/usr/sbin/criu', 'dump', '-t', String(wl.pid), '--tcp-established', '--leave-running', ...extra, '-D', d, '-o', 'criu.log', '-v4'], { timeoutMs: 60_000, env: { PATH: path, HOME: '/root', LANG: 'C' } });
      const log = (await sid.env.readFile(`${d}/criu.log`).catch(() => Buffer.alloc(0))).toString();
      save(`sid-${tag}.log`, `${log}\n${r.stdout}\n${r.stderr}\nexit=${r.exitCode}`);
      console.error(`[sid ${tag}] exit=${r.exitCode} ${log.split('\n').filter((l) => /Error/.test(l)).slice(0, 4).join(' | ')}`);
    }
    await wl.kill();
  }
  if (which.includes('versions')) {
    const sid = await node('sid', 'debian-sid');
    const wl = await start(sid, 'counter', 'ver');
    const d = await criu(sid, 'dump-counter', ['dump', '-t', String(wl.pid)]);
    const to = `${trixie.env.workDir}/from-sid`;
    execFileSync('cp', ['-a', join(sid.hostDir, 'dump-counter'), join(trixie.hostDir, 'from-sid')]);
    await trixie.env.writeFile(`${trixie.env.workDir}/ver.out`, await sid.env.readFile(`${sid.env.workDir}/ver.out`));
    const r = await trixie.criu.run(['restore', '-d', '-D', to, '-o', 'restore.log', '-v4'], { logFile: `${to}/restore.log` });
    save('trixie-restore-images-of-sid-4.2.1.log', r.text);
    console.error(`[4.2.1 → 4.1.1] ok=${r.ok} | ${r.excerpt.filter((l) => /Error/.test(l)).slice(0, 4).join(' | ')}`);
    if (r.ok) await sh(trixie, `kill -9 ${wl.pid}; true`);
    await wl.kill();
    void d;
  }
} finally {
  for (const n of nodes) {
    await n.env.dispose().catch(() => undefined);
    rmSync(n.hostDir, { recursive: true, force: true });
  }
}
