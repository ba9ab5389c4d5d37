/**
 * npm run bench (VM part) — what the qemu backend costs over QEMU itself, as ratios.
 *
 * 1. Boot: QEMU start → first successful guest command through the agent
 *    (modules loaded, channels up, `true` exited 0), vs a bare
 *    `qemu-system-x86_64 -kernel … -initrd …` of the same kernel and guest
 *    root whose init only prints and powers off, timed to the moment its line
 *    reaches the console (power-off time shown apart). Medians of N runs
 *    each, interleaved. Target <= 1.3.
 * 2. Warm cache: the provision phase of a VM pool (kernel, node image, guest
 *    root) when everything is cached, next to the boot it precedes.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../src/config/builtin.ts';
import { chooseAccel, probeBoot } from '../src/environments/qemu/accel.ts';
import { QemuMachine } from '../src/environments/qemu/qemu-machine.ts';
import { buildGuestRoot } from '../src/images/guest-root.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { resolveKernel } from '../src/kernels/kernel.ts';
import { buildNatives } from '../src/runner/provision.ts';

const N = Number(process.env.BENCH_VM_RUNS ?? 3);
const cacheDir = defaultCacheDir();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const natives = await buildNatives(cacheDir, ['counter']);
const provision = async () => {
  const t0 = performance.now();
  const kernel = await resolveKernel('debian/bookworm', { cacheDir, timeoutMs: 600_000 });
  const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  const root = await buildGuestRoot(kernel, image, natives.agent, [], { cacheDir, timeoutMs: 600_000 });
  return { kernel, image, root, ms: performance.now() - t0 };
};
await provision(); // fill the cache first
const warm = await provision();
const { kernel, root } = warm;
const work = join(tmpdir(), `criu-compat-vm-${process.pid}-bench`);
const accel = await chooseAccel('auto', { vmlinuz: kernel.vmlinuz, agent: natives.agent, guard: natives.guard, cacheDir, workDir: work });

const bare: number[] = [];
const bareOff: number[] = [];
const harness: number[] = [];
for (let i = 0; i < N; i++) {
  const b = await probeBoot({ vmlinuz: kernel.vmlinuz, initrd: root.initrd, accel: accel.accel, guard: natives.guard, dir: `${work}-bare`, timeoutMs: 180_000, memoryMiB: 1024 });
  if (b.ms === null) throw new Error(`bare boot did not power off: ${b.tail.join(' | ')}`);
  bare.push(b.printedMs!);
  bareOff.push(b.ms);
  const t0 = performance.now();
  const m = await QemuMachine.start({ id: 'bench', vmlinuz: kernel.vmlinuz, initrd: root.initrd, memoryMiB: 1024, cpus: 1, accel: accel.accel, channels: 1, dir: work, guard: natives.guard, bootTimeoutMs: 180_000 });
  const r = await m.control.exec(['true'], { env: { PATH: '/usr/bin:/bin' }, timeoutMs: 10_000 });
  const ms = performance.now() - t0;
  await m.dispose();
  if (r.exitCode !== 0) throw new Error('`true` failed in the guest');
  harness.push(ms);
}
const mb = median(bare);
const mh = median(harness);
console.log(`\nVM boot, ${kernel.release} + debian-trixie guest root (${Math.round(root.sizeBytes / 1e6)} MB), ${accel.accel}, ${N} runs each, medians:`);
console.log(`  bare qemu -kernel -initrd, until its init printed     ${mb.toFixed(0)} ms   (until QEMU exited after power-off: ${median(bareOff).toFixed(0)} ms)`);
console.log(`  harness: QEMU start → first guest command answered  ${mh.toFixed(0)} ms`);
console.log(`  ratio harness/bare                                   ${(mh / mb).toFixed(3)}   (target <= 1.3)`);
console.log(`warm cache: provision (kernel + image + guest root)    ${warm.ms.toFixed(0)} ms = ${(warm.ms / mh).toFixed(3)} of a boot (nothing built, nothing extracted)`);
