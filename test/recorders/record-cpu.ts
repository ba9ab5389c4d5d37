/** Counter dumped on one CPU model, restored on another, both ways, with and without --cpu-cap (see vm-lab.ts). */
import { writeFileSync } from 'node:fs';
import { boot, sh, transfer, startWorkload, type Vm } from './vm-lab.ts';
import { Workload } from '../../src/workloads/protocol.ts';

const OUT = '/tmp/cpudiag-rec';
const rich = process.argv[2] ?? 'max';
const poor = process.argv[3] ?? 'qemu64';
const save = (f: string, t: string) => writeFileSync(`${OUT}/${f}`, t, { mode: 0o600 });

async function oneWay(src: Vm, dst: Vm, tag: string, dumpExtra: string[] = [], caps = ['default', 'none']) {
  const d = `${src.env.workDir}/${tag}`;
  await src.env.makeDir(d);
  const wl = await startWorkload(src, 'counter', tag);
  const dump = await src.criu.run(['dump', '-t', String(wl.pid), '-D', d, '-o', 'dump.log', '-v4', ...dumpExtra], { logFile: `${d}/dump.log` });
  save(`${tag}-dump.log`, dump.text);
  console.error(`[${tag}] dump ok=${dump.ok}`);
  if (!dump.ok) return;
  await transfer(src, d, dst, d);
  await dst.env.writeFile(wl.outFile, await src.env.readFile(wl.outFile));
  for (const cap of caps) {
    const extra = cap === 'default' ? [] : [`--cpu-cap=${cap}`];
    const r = await dst.criu.run(['restore', '-d', '-D', d, '-o', `restore-${cap}.log`, '-v4', ...extra], { logFile: `${d}/restore-${cap}.log` });
    save(`${tag}-restore-${cap}.log`, r.text);
    console.error(`[${tag}] restore(${cap}) ok=${r.ok} exit=${r.result.exitCode} diag=${r.diagnoses.map((x) => x.id)}`);
    if (r.ok) {
      const restored = new Workload(dst.env, 'counter', dst.bin('counter'), wl.outFile);
      restored.pid = wl.pid;
      await new Promise((res) => setTimeout(res, 2000));
      const alive = await restored.alive();
      const v = alive ? await restored.verdict(60_000) : { status: 'DEAD' };
      const lines = (await restored.lines()).join('\n');
      const dm = await sh(dst, 'dmesg | tail -n 5');
      save(`${tag}-restore-${cap}.verdict`, `alive=${alive} verdict=${JSON.stringify(v)}\n${lines}\n--- dmesg\n${dm.stdout}`);
      console.error(`[${tag}] verdict after restore(${cap}): alive=${alive} ${JSON.stringify(v)}`);
      await restored.kill();
      break;
    }
  }
  await wl.kill();
}

const [a, b] = await Promise.all([boot('rich', 'trixie', 'debian-trixie', rich), boot('poor', 'trixie', 'debian-trixie', poor)]);
try {
  for (const vm of process.argv[4] ? [] : [a, b]) {
    const r = await sh(vm, "grep -m1 '^model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo; criu --version");
    save(`cpuinfo-${vm === a ? rich : poor}.txt`, r.stdout);
  }
  // CRIU's own cpuinfo dump/check across the two
  await a.env.makeDir(`${a.env.workDir}/ci`);
  const cd = await a.criu.run(['cpuinfo', 'dump', '-D', `${a.env.workDir}/ci`, '-v4', '-o', 'ci.log'], { logFile: `${a.env.workDir}/ci/ci.log` });
  console.error(`cpuinfo dump ok=${cd.ok}`);
  await transfer(a, `${a.env.workDir}/ci`, b, `${b.env.workDir}/ci`);
  const cc = await b.criu.run(['cpuinfo', 'check', '-D', `${b.env.workDir}/ci`, '-v4', '-o', 'check.log'], { logFile: `${b.env.workDir}/ci/check.log` });
  save(`cpuinfo-check-${rich}-on-${poor}.log`, cc.text);
  console.error(`cpuinfo check rich-on-poor ok=${cc.ok}`);
  const mode = process.argv[4] ?? 'plain';
  if (mode === 'plain') {
    await oneWay(a, b, `${rich}-to-${poor}`);
    await oneWay(b, a, `${poor}-to-${rich}`);
  } else if (mode === 'fpu-richer') {
    await oneWay(b, a, `fpu-${poor}-to-${rich}`, ['--cpu-cap=all'], ['fpu']);
    await oneWay(b, a, `fpuonly-${poor}-to-${rich}`, ['--cpu-cap=fpu'], ['fpu']);
  } else if (mode === 'strict') {
    await oneWay(b, a, `strict-${poor}-to-${rich}`, ['--cpu-cap=all'], ['cpu', 'ins', 'all']);
  } else {
    await oneWay(a, b, `capall-${rich}-to-${poor}`, ['--cpu-cap=all'], ['default', 'fpu', 'ins', 'none']);
    await oneWay(b, a, `capall-${poor}-to-${rich}`, ['--cpu-cap=all'], ['default', 'fpu']);
  }
} finally {
  await Promise.all([a.m.dispose(), b.m.dispose()]);
}
