/** CRIU 4.1.1 (trixie) ↔ 3.17.1 (bookworm) across two VMs on one kernel, several workloads; the files a dump names are copied to the destination, with LOCK=1 also CRIU's network lock (see vm-lab.ts). */
import { writeFileSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { boot, sh, startWorkload, type Vm } from './vm-lab.ts';
import { Workload } from '../../src/workloads/protocol.ts';
import { recordedRegFiles } from '../e2e/tamper.ts';

const OUT = '/tmp/cpudiag-rec';
const save = (f: string, t: string) => writeFileSync(`${OUT}/${f}`, t, { mode: 0o600 });
const kernel = process.argv[2] ?? 'trixie';
const workloads = process.argv.slice(3);
let nextPid = 200_000;

async function oneWay(src: Vm, dst: Vm, w: string, tag: string) {
  const d = `${src.env.workDir}/${tag}`;
  await src.env.makeDir(d);
  // Source PIDs far from anything the destination runs: a restore needs its PIDs free there.
  await sh(src, `echo ${(nextPid += 1000)} > /proc/sys/kernel/ns_last_pid`);
  const wl = await startWorkload(src, w, tag);
  const extra = w === 'tcp-established' ? ['--tcp-established'] : [];
  const dump = await src.criu.run(['dump', '-t', String(wl.pid), '-D', d, '-o', 'dump.log', '-v4', ...extra], { logFile: `${d}/dump.log` });
  console.error(`[${tag}] dump ok=${dump.ok}`);
  if (!dump.ok) { save(`${tag}-dump.log`, dump.text); return; }
  const host = mkdtempSync('/tmp/cc-lab-img-');
  try {
    await src.env.copyOut(d, join(host, 'img'));
    await dst.env.makeDir(d);
    for (const f of readdirSync(join(host, 'img'))) await dst.env.copyIn(join(host, 'img', f), `${d}/${f}`);
    for (const r of recordedRegFiles(join(host, 'img'))) {
      if (!r.name.startsWith('/tmp/') || r.name.includes('(deleted)')) continue;
      const data = await src.env.readFile(r.name).catch(() => undefined);
      if (!data) continue;
      const tmp = `${dst.env.workDir}/xfer`;
      await dst.env.writeFile(tmp, data, 0o600);
      await sh(dst, `mv ${tmp} ${r.name} && chmod ${((r.mode ?? 0o600) & 0o7777).toString(8)} ${r.name}`);
    }
    await dst.env.writeFile(wl.outFile, await src.env.readFile(wl.outFile));
    const rules = await sh(src, 'iptables-save 2>&1; echo ---nft; nft list ruleset 2>&1');
    save(`${tag}-src-netlock.txt`, rules.stdout);
    if (process.env.LOCK) {
      const v4 = await sh(src, 'iptables-save');
      await dst.env.writeFile(`${dst.env.workDir}/rules.v4`, v4.stdout);
      const r = await sh(dst, `iptables-restore < ${dst.env.workDir}/rules.v4`);
      console.error(`[${tag}] copied the source's iptables rules to the destination: exit ${r.exitCode} ${r.stderr.trim()}`);
    }
  } finally { rmSync(host, { recursive: true, force: true }); }
  const r = await dst.criu.run(['restore', '-d', '-D', d, '-o', 'restore.log', '-v4', ...extra], { logFile: `${d}/restore.log` });
  save(`${tag}-restore.log`, r.text);
  console.error(`[${tag}] restore ok=${r.ok} ${r.ok ? '' : r.excerpt.filter((l) => /Error/.test(l)).slice(0, 3).join(' | ')}`);
  if (r.ok) {
    const restored = new Workload(dst.env, w, dst.bin(w), wl.outFile);
    restored.pid = wl.pid;
    const v = await restored.verdict(60_000);
    save(`${tag}.verdict`, `${JSON.stringify(v)}\n${(await restored.lines()).join('\n')}\n`);
    console.error(`[${tag}] verdict ${JSON.stringify(v)}`);
    await restored.kill();
  }
  await wl.kill();
}

const [a, b] = await Promise.all([boot('new', kernel, process.env.IMG_A ?? 'debian-trixie', 'max'), boot('old', kernel, process.env.IMG_B ?? 'debian-bookworm', 'max')]);
try {
  for (const w of workloads) {
    await oneWay(a, b, w, `k${kernel}-${w}-criu4.1.1-to-criu3.17.1`);
    await oneWay(b, a, w, `k${kernel}-${w}-criu3.17.1-to-criu4.1.1`);
  }
} finally {
  await Promise.all([a.m.dispose(), b.m.dispose()]);
}
