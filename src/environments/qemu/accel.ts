import { spawn } from 'node:child_process';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeInitrd } from '../../images/guest-root.ts';
import { mkdirPrivate, removeTree } from '../../util/fs.ts';
import { type Accel, consoleTail, qemuArgv } from './qemu-machine.ts';

export interface AccelChoice {
  accel: Accel;
  /** Why: "kvm: probe booted in 1.2 s", "tcg: /dev/kvm missing", "tcg: KVM probe did not boot within 10 s", "tcg: asked for". */
  why: string;
}

/**
 * Boots KERNEL with INITRD and "cc.probe" (the agent prints "cc-probe: up" and
 * powers off) and returns the wall time to QEMU's exit, or null if it did not
 * get there within timeoutMs. The VM is always killed.
 */
export async function probeBoot(o: {
  vmlinuz: string;
  initrd: string;
  accel: Accel;
  guard: string;
  dir: string;
  timeoutMs: number;
  memoryMiB?: number;
}): Promise<{ ms: number | null; printedMs: number | null; tail: string[] }> {
  await removeTree(o.dir);
  await mkdirPrivate(o.dir);
  const argv = qemuArgv({ id: 'probe', vmlinuz: o.vmlinuz, initrd: o.initrd, memoryMiB: o.memoryMiB ?? 512, cpus: 1, accel: o.accel, channels: 0, dir: o.dir, append: 'cc.probe' });
  const started = performance.now();
  const proc = spawn(o.guard, ['--', ...argv], { stdio: 'ignore' });
  // When the init's line reaches the console (the bench's fair mark: no shutdown included).
  let printedMs: number | null = null;
  const watch = setInterval(() => {
    void readFile(join(o.dir, 'console.log'), 'utf8')
      .then((t) => {
        if (printedMs === null && t.includes('cc-probe: up')) printedMs = performance.now() - started;
      })
      .catch(() => undefined);
  }, 10);
  const ended = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), o.timeoutMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
    proc.once('error', () => res(false));
  });
  const ms = performance.now() - started;
  clearInterval(watch);
  if (!ended) {
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r(null) : proc.once('exit', r)));
  }
  const tail = await consoleTail(o.dir, 20);
  await removeTree(o.dir);
  const up = ended && tail.some((l) => l.includes('cc-probe: up'));
  return { ms: up ? ms : null, printedMs: up ? (printedMs ?? ms) : null, tail };
}

/**
 * KVM when asked, or when "auto" and a short probe boot works (nested
 * virtualisation may offer /dev/kvm whose guests never boot); TCG otherwise.
 * The answer is remembered per host boot.
 */
export async function chooseAccel(
  want: 'auto' | 'kvm' | 'tcg',
  probe: { vmlinuz: string; agent: string; guard: string; cacheDir: string; workDir: string; timeoutMs?: number },
): Promise<AccelChoice> {
  if (want === 'tcg') return { accel: 'tcg', why: 'tcg: asked for (--accel tcg)' };
  if (want === 'kvm') return { accel: 'kvm', why: 'kvm: asked for (--accel kvm)' };
  const usable = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!usable) return { accel: 'tcg', why: 'tcg: /dev/kvm is missing or not accessible' };
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const memo = join(probe.cacheDir, 'accel-probe.json');
  const known = JSON.parse(await readFile(memo, 'utf8').catch(() => '{}')) as { bootId?: string; choice?: AccelChoice };
  if (bootId && known.bootId === bootId && known.choice) return known.choice;
  const timeoutMs = probe.timeoutMs ?? 15_000;
  const initrd = await probeInitrd(probe.agent, probe.cacheDir);
  const r = await probeBoot({ vmlinuz: probe.vmlinuz, initrd, accel: 'kvm', guard: probe.guard, dir: join(probe.workDir, 'kvm-probe'), timeoutMs });
  const choice: AccelChoice =
    r.ms !== null
      ? { accel: 'kvm', why: `kvm: probe boot powered off in ${(r.ms / 1000).toFixed(1)} s` }
      : { accel: 'tcg', why: `tcg: a KVM probe boot did not finish within ${timeoutMs / 1000} s (nested virtualisation not working here)` };
  await writeFile(memo, JSON.stringify({ bootId, choice }, null, 2)).catch(() => undefined);
  return choice;
}
