/** One VM: restore where an open file is missing / truncated / grown / chmod-ed, a tampered files.img or pages file, a TCP address removed (see vm-lab.ts). */
import { mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { boot, sh, startWorkload, type Vm } from './vm-lab.ts';
import { Workload } from '../../src/workloads/protocol.ts';
import { tamperPages, tamperRegFileSize, recordedRegFiles } from '../e2e/tamper.ts';

const OUT = '/tmp/cpudiag-rec';
const save = (f: string, t: string) => writeFileSync(`${OUT}/${process.env.PREFIX ?? ""}${f}`, t, { mode: 0o600 });
const which = process.argv.slice(2);

async function dumpOf(vm: Vm, wl: Workload, d: string, extra: string[] = []) {
  const r = await vm.criu.run(['dump', '-t', String(wl.pid), '-D', d, '-o', 'dump.log', '-v4', ...extra], { logFile: `${d}/dump.log` });
  if (!r.ok) { save(`${d.split('/').pop()}-dump-FAILED.log`, r.text); throw new Error(`dump failed: ${r.excerpt.join(' | ')}`); }
  return r;
}
async function restoreOf(vm: Vm, d: string, tag: string, extra: string[] = []) {
  const r = await vm.criu.run(['restore', '-d', '-D', d, '-o', `restore-${tag}.log`, '-v4', ...extra], { logFile: `${d}/restore-${tag}.log` });
  save(`${tag}-restore.log`, r.text);
  console.error(`[${tag}] restore ok=${r.ok} exit=${r.result.exitCode} diag=${r.diagnoses.map((x) => x.id)} ${r.ok ? '' : r.excerpt.filter((l) => /Error/.test(l)).slice(0, 3).join(' | ')}`);
  return r;
}
async function verdictOf(vm: Vm, wl: Workload, tag: string) {
  const v = await wl.verdict(60_000);
  save(`${tag}.verdict`, `${JSON.stringify(v)}\n${(await wl.lines()).join('\n')}\n`);
  console.error(`[${tag}] verdict ${JSON.stringify(v)}`);
  await wl.kill();
}
/** copyOut → fn → copyIn of the changed file. */
async function onHost(vm: Vm, d: string, fn: (dir: string) => string) {
  const host = mkdtempSync('/tmp/cc-lab-img-');
  try {
    await vm.env.copyOut(d, join(host, 'img'));
    const f = fn(join(host, 'img'));
    await vm.env.copyIn(join(host, 'img', f), `${d}/${f}`);
  } finally { rmSync(host, { recursive: true, force: true }); }
}

const vm = await boot('lab', process.env.KERNEL ?? 'trixie', process.env.IMG ?? 'debian-trixie', 'max');
try {
  if (which.includes('files')) {
    const d = `${vm.env.workDir}/files`;
    await vm.env.makeDir(d);
    const wl = await startWorkload(vm, 'open-file', 'files');
    const f = `/tmp/cc-open-file-${wl.pid}`;
    await dumpOf(vm, wl, d);
    await onHost(vm, d, (dir) => { copyFileSync(join(dir, 'files.img'), `${OUT}/${process.env.PREFIX ?? ''}files-open-file.img`); save('files-open-file.regfiles.json', JSON.stringify(recordedRegFiles(dir), null, 1)); return 'files.img'; });
    await sh(vm, `cp -p ${f} ${f}.bak && rm ${f}`);
    await restoreOf(vm, d, 'file-missing');
    await sh(vm, `cp -p ${f}.bak ${f} && truncate -s 1000 ${f}`);
    await restoreOf(vm, d, 'file-truncated');
    await sh(vm, `cp -p ${f}.bak ${f} && truncate -s 70000 ${f}`);
    await restoreOf(vm, d, 'file-grown');
    await sh(vm, `cp -p ${f}.bak ${f} && chmod 0644 ${f}`);
    const m = await restoreOf(vm, d, 'file-chmod');
    if (m.ok) { await verdictOf(vm, wl, 'file-chmod'); }
    await sh(vm, `cp -p ${f}.bak ${f}; chmod 0600 ${f}`);
    await onHost(vm, d, (dir) => { console.error('tamper:', JSON.stringify(tamperRegFileSize(dir, /cc-open-file-/, 1234))); return 'files.img'; });
    await restoreOf(vm, d, 'files-img-size-tampered');
  }
  if (which.includes('pages')) {
    const d = `${vm.env.workDir}/pages`;
    await vm.env.makeDir(d);
    const wl = await startWorkload(vm, 'counter', 'pages');
    await dumpOf(vm, wl, d);
    await onHost(vm, d, (dir) => { const t = tamperPages(dir); console.error('tamper:', JSON.stringify(t)); save('pages-tamper.txt', JSON.stringify(t)); return t.file; });
    const r = await restoreOf(vm, d, 'pages-tampered');
    if (r.ok) await verdictOf(vm, wl, 'pages-tampered');
  }
  if (which.includes('tcp')) {
    const d = `${vm.env.workDir}/tcp`;
    await vm.env.makeDir(d);
    const script = `${vm.env.workDir}/tcp.pl`;
    await vm.env.writeFile(script, `use strict; use IO::Socket::INET; $|=1; my $v=0; $SIG{USR1}=sub{$v=1};
my $l=IO::Socket::INET->new(LocalAddr=>'10.77.0.1',LocalPort=>7777,Listen=>1,ReuseAddr=>1) or die "listen: $!";
my $c=IO::Socket::INET->new(PeerAddr=>'10.77.0.1',PeerPort=>7777) or die "connect: $!";
my $s=$l->accept or die "accept: $!"; close $l; $c->autoflush(1); $s->autoflush(1);
print "ready\\n"; my $n=0;
while (1) { $n++; print $c "x$n\\n" or do { print "FAIL: send: $!\\n"; exit 1 }; my $got=<$s>;
  if (!defined $got || $got ne "x$n\\n") { print "FAIL: expected x$n, got ", (defined $got ? $got : "EOF"), "\\n"; exit 1 }
  if ($v) { print "PASS\\n"; exit 0 } select(undef,undef,undef,0.05); }
`, 0o600);
    await sh(vm, 'ip addr add 10.77.0.1/32 dev lo');
    const wl = new Workload(vm.env, 'tcp', 'perl', `${vm.env.workDir}/tcp.out`, [script]);
    await wl.start();
    if (!(await wl.waitReady(30_000)).ok) throw new Error(`tcp not ready: ${(await wl.lines()).join('|')}`);
    await dumpOf(vm, wl, d, ['--tcp-established']);
    await sh(vm, 'ip addr del 10.77.0.1/32 dev lo');
    await restoreOf(vm, d, 'tcp-address-missing', ['--tcp-established']);
    await sh(vm, 'ip addr add 10.77.0.1/32 dev lo');
    const ok = await restoreOf(vm, d, 'tcp-address-present', ['--tcp-established']);
    if (ok.ok) await verdictOf(vm, wl, 'tcp-address-present');
  }
} finally {
  await vm.m.dispose();
}
