import { spawn } from 'node:child_process';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeInitrd } from '../../images/guest-root.ts';
import { mkdirPrivate, removeTree } from '../../util/fs.ts';
import { type Accel, consoleTail, qemuArgv } from './qemu-machine.ts';

export interface AccelChoice {
  accel: Accel;
  /** Why: "kvm: a KVM probe guest reached its agent …", "tcg: /dev/kvm missing", "tcg: a KVM probe guest hung …", "tcg: asked for". */
  why: string;
}

/**
 * How a probe boot ended: the guest's init printed "cc-probe: up" (up); the
 * time box passed with QEMU still running and nothing printed (hung); QEMU
 * exited before the guest got there (exited: a bad kernel, a QEMU error);
 * QEMU could not be started at all (not-started).
 */
export type ProbeOutcome = 'up' | 'hung' | 'exited' | 'not-started';

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** Wall time to QEMU's exit after the guest came up; null otherwise. */
  ms: number | null;
  /** When the init's line reached the console; null if it never did. */
  printedMs: number | null;
  /** When QEMU exited or the probe gave up. */
  endedMs: number;
  /** The console's last lines, then QEMU's own last stderr lines. */
  tail: string[];
}

/**
 * Boots KERNEL with INITRD and "cc.probe" (the agent prints "cc-probe: up" and
 * powers off) and says how that ended within timeoutMs. The VM is always killed.
 */
export async function probeBoot(o: {
  vmlinuz: string;
  initrd: string;
  accel: Accel;
  guard: string;
  dir: string;
  timeoutMs: number;
  memoryMiB?: number;
}): Promise<ProbeResult> {
  await removeTree(o.dir);
  await mkdirPrivate(o.dir);
  const argv = qemuArgv({ id: 'probe', vmlinuz: o.vmlinuz, initrd: o.initrd, memoryMiB: o.memoryMiB ?? 512, cpus: 1, accel: o.accel, channels: 0, dir: o.dir, append: 'cc.probe' });
  const started = performance.now();
  const proc = spawn(o.guard, ['--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  // When the init's line reaches the console (the bench's fair mark: no shutdown included).
  let printedMs: number | null = null;
  const watch = setInterval(() => {
    void readFile(join(o.dir, 'console.log'), 'utf8')
      .then((t) => {
        if (printedMs === null && t.includes('cc-probe: up')) printedMs = performance.now() - started;
      })
      .catch(() => undefined);
  }, 10);
  const ended = await new Promise<'exit' | 'timeout' | 'error'>((res) => {
    const timer = setTimeout(() => res('timeout'), o.timeoutMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      res('exit');
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      stderr += `\n${e.message}`;
      res('error');
    });
  });
  const ms = performance.now() - started;
  clearInterval(watch);
  if (ended === 'timeout') {
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r(null) : proc.once('exit', r)));
  }
  const consoleLines = await consoleTail(o.dir, 20);
  await removeTree(o.dir);
  const up = consoleLines.some((l) => l.includes('cc-probe: up'));
  const tail = [...consoleLines, ...stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(-5)];
  const outcome: ProbeOutcome = up ? 'up' : ended === 'timeout' ? 'hung' : ended === 'exit' ? 'exited' : 'not-started';
  return { outcome, ms: up && ended === 'exit' ? ms : null, printedMs: up ? (printedMs ?? ms) : null, endedMs: ms, tail };
}

/**
 * What a KVM probe boot says about KVM on this host, and whether that is worth
 * remembering: only a guest that reached its agent (KVM works) or one that
 * hung for the whole time box with QEMU still running (KVM does not) is a
 * verdict. A QEMU that exited early or never started says nothing about KVM
 * (a bad kernel, a QEMU error): TCG for this run only.
 */
export function probeVerdict(r: ProbeResult, timeoutMs: number): { choice: AccelChoice; remember: boolean } {
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const last = r.tail.length ? `: ${r.tail.slice(-2).join(' | ')}` : '';
  switch (r.outcome) {
    case 'up':
      return { remember: true, choice: { accel: 'kvm', why: `kvm: a KVM probe guest reached its agent in ${secs(r.printedMs ?? r.endedMs)}${r.ms !== null ? ` and powered off in ${secs(r.ms)}` : ''}` } };
    case 'hung':
      return { remember: true, choice: { accel: 'tcg', why: `tcg: a KVM probe guest hung for the whole ${timeoutMs / 1000} s time box with QEMU still running (nested virtualisation not working here)` } };
    case 'exited':
      return {
        remember: false,
        choice: { accel: 'tcg', why: `tcg: the KVM probe could not decide: QEMU exited after ${secs(r.endedMs)} before the guest reached its agent${last}; TCG for this run only, nothing remembered` },
      };
    case 'not-started':
      return { remember: false, choice: { accel: 'tcg', why: `tcg: the KVM probe could not decide: QEMU did not start${last}; TCG for this run only, nothing remembered` } };
  }
}

/** Memo format: only real verdicts are written, and memos of older formats (which also kept undecided probes) are not trusted. */
const MEMO_VERSION = 2;

/**
 * KVM when asked, or when "auto" and a short probe boot works (nested
 * virtualisation may offer /dev/kvm whose guests never boot); TCG otherwise.
 * A real verdict is remembered per host boot.
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
  const memo = accelMemoFile(probe.cacheDir);
  const known = JSON.parse(await readFile(memo, 'utf8').catch(() => '{}')) as { v?: number; bootId?: string; choice?: AccelChoice };
  if (bootId && known.v === MEMO_VERSION && known.bootId === bootId && known.choice) return known.choice;
  const timeoutMs = probe.timeoutMs ?? 15_000;
  const initrd = await probeInitrd(probe.agent, probe.cacheDir);
  const r = await probeBoot({ vmlinuz: probe.vmlinuz, initrd, accel: 'kvm', guard: probe.guard, dir: join(probe.workDir, 'kvm-probe'), timeoutMs });
  const { choice, remember } = probeVerdict(r, timeoutMs);
  if (remember && bootId) await writeFile(memo, JSON.stringify({ v: MEMO_VERSION, bootId, choice }, null, 2)).catch(() => undefined);
  return choice;
}

/** Where chooseAccel remembers its verdict for this host boot. */
export function accelMemoFile(cacheDir: string): string {
  return join(cacheDir, 'accel-probe.json');
}
