/**
 * Recorders (run by hand, as root, never by vitest): boot VM pools on the
 * cached kernels and node images with a chosen QEMU CPU model and drive CRIU
 * by hand between them, to record the logs under fixtures/recorded/ that the
 * migration signatures are tested on. Everything goes to /tmp/cpudiag-rec
 * (root-only); fixtures are excerpts of it (decisive lines, no memory).
 *   node test/recorders/record-cpu.ts max qemu64 plain|capall|strict
 *   node test/recorders/record-destination-differs.ts files pages tcp
 *   [LOCK=1] [IMG_A=… IMG_B=…] node test/recorders/record-criu-versions.ts trixie|bookworm WORKLOAD…
 */
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { openVmSession } from '../../src/environments/qemu/vm-session.ts';
import { QemuMachine, channelSocket } from '../../src/environments/qemu/qemu-machine.ts';
import { buildGuestRoot } from '../../src/images/guest-root.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { resolveKernel } from '../../src/kernels/kernel.ts';
import { Criu } from '../../src/criu/driver.ts';
import { Workload } from '../../src/workloads/protocol.ts';
import type { Environment } from '../../src/environments/environment.ts';

mkdirSync('/tmp/cpudiag-rec', { recursive: true, mode: 0o700 });
export const cacheDir = defaultCacheDir();
export const natives = await buildNatives(cacheDir, ['counter', 'open-file', 'tcp-established', 'pipe-pair', 'process-tree', 'threads']);

export interface Vm { m: QemuMachine; env: Environment; criu: Criu; name: string; bin: (w: string) => string }

export async function boot(name: string, suite: string, image: string, cpu: string | undefined): Promise<Vm> {
  const kernel = await resolveKernel(`debian/${suite}` as 'debian/trixie', { cacheDir, timeoutMs: 600_000 });
  const img = await resolveImage(image, BUILTIN_IMAGES[image]!, { cacheDir, buildTimeoutMs: 900_000 });
  const root = await buildGuestRoot(kernel, img, natives.agent, [], { cacheDir, timeoutMs: 600_000 });
  const dir = mkdtempSync('/tmp/criu-compat-vm-lab-');
  const m = await QemuMachine.start({ id: name, vmlinuz: kernel.vmlinuz, initrd: root.initrd, memoryMiB: 1536, cpus: 2, accel: 'tcg', channels: 2, dir, guard: natives.guard, bootTimeoutMs: 300_000, cpu });
  const env = await openVmSession({ id: `${name}/s`, socket: channelSocket(dir, 1), session: 's', timeoutMs: 60_000 });
  await env.makeDir(`${env.workDir}/bin`);
  for (const [w, b] of Object.entries(natives.workloads)) await env.copyIn(b, `${env.workDir}/bin/${w}`);
  const criu = new Criu(env, { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' }, 120_000);
  console.error(`[${name}] booted cpu=${cpu ?? 'max'} in ${Math.round(m.bootMs)} ms`);
  return { m, env, criu, name, bin: (w) => `${env.workDir}/bin/${w}` };
}

export async function sh(vm: Vm, cmd: string, timeoutMs = 60_000) {
  const r = await vm.env.exec(['sh', '-c', cmd], { timeoutMs });
  return r;
}

/** Copies an image directory from one VM to another through the host (a root-only temp dir). */
export async function transfer(from: Vm, dir: string, to: Vm, dstDir: string): Promise<void> {
  const host = mkdtempSync('/tmp/cc-lab-img-');
  await from.env.copyOut(dir, join(host, 'img'));
  await to.env.makeDir(dstDir);
  for (const f of readdirSync(join(host, 'img'))) await to.env.copyIn(join(host, 'img', f), `${dstDir}/${f}`);
  await sh(from, 'true');
  const { rm } = await import('node:fs/promises');
  await rm(host, { recursive: true, force: true });
}

export async function startWorkload(vm: Vm, w: string, tag: string, args: string[] = []): Promise<Workload> {
  const wl = new Workload(vm.env, w, vm.bin(w), `${vm.env.workDir}/${tag}.out`, args);
  await wl.start();
  const r = await wl.waitReady(60_000);
  if (!r.ok) throw new Error(`${w} not ready: ${(await wl.lines()).join(' | ')}`);
  return wl;
}
