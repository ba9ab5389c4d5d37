/**
 * cc-agent in a VM, for real: a channel no host is connected to (before its
 * session opens, after it closes) costs the guest nothing. A virtio-serial
 * port without a host reads as end of file and polls as readable at once;
 * the agent's server used to spin on it, a busy vCPU that under TCG is a
 * busy host core.
 */
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { chooseAccel } from '../../src/environments/qemu/accel.ts';
import { QemuMachine } from '../../src/environments/qemu/qemu-machine.ts';
import { buildGuestRoot } from '../../src/images/guest-root.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { resolveKernel } from '../../src/kernels/kernel.ts';
import { tempDir } from './harness.ts';

test('a channel with no host: its server sleeps (no CPU used) while another channel serves', async () => {
  const cacheDir = defaultCacheDir();
  const natives = await buildNatives(cacheDir, []);
  const kernel = await resolveKernel('debian/bookworm', { cacheDir, timeoutMs: 600_000 });
  const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  const root = await buildGuestRoot(kernel, image, natives.agent, [], { cacheDir, timeoutMs: 600_000 });
  const dir = join(tempDir('criu-compat-vm-'), 'vm');
  const accel = await chooseAccel('auto', { vmlinuz: kernel.vmlinuz, agent: natives.agent, guard: natives.guard, cacheDir, workDir: `${dir}-probe` });
  // cc.0 is the control channel (connected); cc.1 has no host.
  const m = await QemuMachine.start({ id: 'idle', vmlinuz: kernel.vmlinuz, initrd: root.initrd, memoryMiB: 1024, cpus: 1, accel: accel.accel, channels: 2, dir, guard: natives.guard, bootTimeoutMs: 180_000 });
  try {
    // The agent's processes other than PID 1 (servers, and this request's handler): CPU ticks used in 2 s, and their states.
    const ticks = 'for p in $(pidof init); do [ "$p" = 1 ] || echo "$(cut -d" " -f3,14 /proc/$p/stat)"; done';
    const r = await m.control.exec(['sh', '-c', `${ticks}; echo --; sleep 2; ${ticks}`], { env: { PATH: '/usr/bin:/bin' }, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr.toString()).toBe(0);
    const [before, after] = r.stdout.toString().split('--\n').map((s) => s.trim().split('\n').map((l) => l.split(' ')));
    expect(before!.length).toBe(3); // two servers and the handler of this request
    const used = (xs: string[][]) => xs.reduce((n, x) => n + Number(x[1]), 0);
    expect(after!.map((x) => x[0])).not.toContain('R');
    expect(used(after!) - used(before!)).toBeLessThan(10); // spinning, it was ~40 ticks here under TCG
  } finally {
    await m.dispose();
  }
}, 600_000);
