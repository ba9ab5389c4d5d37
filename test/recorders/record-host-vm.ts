/**
 * The host's CPU ↔ a TCG guest (-cpu max): counter dumped on the host kernel
 * (namespace backend, node image debian-trixie, CRIU_FAULT=130 as the default
 * host-trixie-nobp pool) and restored in a k6.12-trixie VM, and the reverse
 * (see vm-lab.ts). Both sides keep everything under /run/criu-compat/s.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { Criu } from '../../src/criu/driver.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { Workload } from '../../src/workloads/protocol.ts';
import { boot, cacheDir, natives, sh, type Vm } from './vm-lab.ts';

const OUT = '/tmp/cpudiag-rec';
const W = '/run/criu-compat/s';
const save = (f: string, t: string) => writeFileSync(`${OUT}/${f}`, t, { mode: 0o600 });
const PATH_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' };

async function host(): Promise<Vm & { dir: string }> {
  const img = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  const dir = mkdtempSync('/tmp/cc-lab-ns-');
  const env = await NamespaceEnvironment.start({ id: 'host', rootfs: img.rootfs, hostWorkDir: dir, helper: natives.helper, timeoutMs: 30_000 });
  await env.makeDir(`${W}/bin`);
  for (const [w, b] of Object.entries(natives.workloads)) await env.copyIn(b, `${W}/bin/${w}`);
  const criu = new Criu(env, { ...PATH_ENV, CRIU_FAULT: '130' }, 120_000);
  const m = { dispose: async () => { await env.dispose(); rmSync(dir, { recursive: true, force: true }); } } as unknown as Vm['m'];
  return { m, env, criu, name: 'host', bin: (w) => `${W}/bin/${w}`, dir };
}

let nextPid = 300_000;
async function oneWay(src: Vm, dst: Vm, tag: string, caps: string[], dumpExtra: string[] = [], wrap: string[] = []) {
  const d = `${W}/${tag}`;
  await src.env.makeDir(d);
  await sh(src, `echo ${(nextPid += 1000)} > /proc/sys/kernel/ns_last_pid`);
  const wl = wrap.length ? new Workload(src.env, 'counter', wrap[0]!, `${W}/${tag}.out`, [...wrap.slice(1), src.bin('counter')]) : new Workload(src.env, 'counter', src.bin('counter'), `${W}/${tag}.out`);
  await wl.start();
  if (!(await wl.waitReady(60_000)).ok) throw new Error(`not ready: ${(await wl.lines()).join('|')}`);
  const dump = await src.criu.run(['dump', '-t', String(wl.pid), '-D', d, '-o', 'dump.log', '-v4', ...dumpExtra], { logFile: `${d}/dump.log` });
  console.error(`[${tag}] dump ok=${dump.ok}`);
  if (!dump.ok) { save(`${tag}-dump.log`, dump.text); return; }
  const tmp = mkdtempSync('/tmp/cc-lab-img-');
  try {
    await src.env.copyOut(d, join(tmp, 'img'));
    await dst.env.makeDir(d);
    for (const f of readdirSync(join(tmp, 'img'))) await dst.env.copyIn(join(tmp, 'img', f), `${d}/${f}`);
    await dst.env.writeFile(wl.outFile, await src.env.readFile(wl.outFile));
  } finally { rmSync(tmp, { recursive: true, force: true }); }
  for (const cap of caps) {
    const r = await dst.criu.run(['restore', '-d', '-D', d, '-o', `restore-${cap}.log`, '-v4', ...(cap === 'default' ? [] : [`--cpu-cap=${cap}`])], { logFile: `${d}/restore-${cap}.log` });
    save(`${tag}-restore-${cap}.log`, r.text);
    console.error(`[${tag}] restore(${cap}) ok=${r.ok} diag=${r.diagnoses.map((x) => x.id)} ${r.ok ? '' : r.excerpt.filter((l) => /Error/.test(l)).slice(0, 2).join(' | ')}`);
    if (!r.ok) continue;
    const restored = new Workload(dst.env, 'counter', dst.bin('counter'), wl.outFile);
    restored.pid = wl.pid;
    const v = await restored.verdict(60_000);
    const dm = await sh(dst, 'dmesg 2>/dev/null | tail -n 3');
    save(`${tag}-restore-${cap}.verdict`, `${JSON.stringify(v)}\n${(await restored.lines()).join('\n')}\n--- dmesg\n${dm.stdout}`);
    console.error(`[${tag}] verdict ${JSON.stringify(v)}`);
    await restored.kill();
    break;
  }
  await wl.kill();
}

const [h, vm] = await Promise.all([host(), boot('vm', 'trixie', 'debian-trixie', 'max')]);
try {
  await vm.env.makeDir(`${W}/bin`);
  if (process.argv[2] === 'tunables') {
    // glibc told not to use AVX-512 (its EVEX string functions trap under TCG, which has AVX2 but no AVX-512).
    await oneWay(h, vm, 'noavx512-host-to-tcgmax', ['default'], [], ['env', 'GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD']);
  } else if (process.argv[2] === 'caps') {
    // The workload started without CAP_SYS_RESOURCE (setpriv drops it from the bounding set before exec, as this machine's root lacks it).
    await oneWay(vm, h, 'nosysresource-tcgmax-to-host', ['default'], [], ['setpriv', '--bounding-set', '-sys_resource']);
  } else if (process.argv[2] === 'cpu-cap') {
    await oneWay(h, vm, 'capall-host-to-tcgmax', ['fpu', 'ins', 'default'], ['--cpu-cap=all']);
  } else {
    await oneWay(h, vm, 'host-to-tcgmax', ['default', 'fpu', 'none']);
    await oneWay(vm, h, 'tcgmax-to-host', ['default', 'none']);
  }
} finally {
  await Promise.all([h.m.dispose(), vm.m.dispose()]);
}
