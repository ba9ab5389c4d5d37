import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import type { KernelSpec, Pool, Settings } from '../config/schema.ts';
import { NamespaceEnvironment } from '../environments/namespace/namespace-environment.ts';
import type { AccelChoice } from '../environments/qemu/accel.ts';
import { QemuEnvironment } from '../environments/qemu/qemu-environment.ts';
import { BootError, QEMU, QemuMachine, TCG_ACCEL, channelSocket } from '../environments/qemu/qemu-machine.ts';
import { buildGuestRoot, type GuestRoot } from '../images/guest-root.ts';
import { resolveImage, type NodeImage } from '../images/node-image.ts';
import { resolveKernel, type Kernel } from '../kernels/kernel.ts';
import { run } from '../util/process.ts';
import { redactUrlsIn } from '../util/redact.ts';
import { InterruptedError } from '../errors.ts';
import { buildStatic, buildStaticDir } from '../native/build-static.ts';
import type { Inventory } from '../results/schema.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import { takeInventory } from './inventory.ts';
import type { PlannedPool, RunPlan } from './plan.ts';
import type { Progress } from './progress.ts';

export const PROJECT_ROOT = join(import.meta.dirname, '..', '..');

export interface ProvisionedPool {
  planned: PlannedPool;
  pool: Pool;
  image: NodeImage | null;
  inventory: Inventory | null;
  /** Qemu pools: the kernel and guest root, ready to boot. */
  vm?: { kernel: Kernel; guestRoot: GuestRoot };
  phases: { provisionMs: number; bootMs: number; suitesMs: number; teardownMs: number };
}

/** Compiles the namespace helper, the VM guard, the guest agent and the workloads (cached by content). */
export async function buildNatives(cacheDir: string, workloads: readonly string[]): Promise<RunPlan['natives']> {
  const header = join(PROJECT_ROOT, 'fixtures/workloads/cc-workload.h');
  const [helper, guard, agent, hwBreakpoints, ...bins] = await Promise.all([
    buildStaticDir('cc-ns', join(PROJECT_ROOT, 'src/environments/namespace/cc-ns'), cacheDir),
    buildStatic('cc-guard', join(PROJECT_ROOT, 'src/native/cc-guard.c'), [], cacheDir),
    buildStaticDir('cc-agent', join(PROJECT_ROOT, 'src/agent'), cacheDir),
    buildStatic('hw-breakpoints', join(PROJECT_ROOT, 'fixtures/probes/hw-breakpoints.c'), [], cacheDir),
    ...workloads.map((w) => buildStatic(w, join(PROJECT_ROOT, `fixtures/workloads/${w}.c`), [header], cacheDir)),
  ]);
  return { helper, guard, agent, workloads: Object.fromEntries(workloads.map((w, i) => [w, bins[i]!])), probes: { hwBreakpoints } };
}

export interface ProvisionOptions {
  cacheDir: string;
  mirror?: string;
  workRoot: string;
  natives: RunPlan['natives'];
  progress: Progress;
  /** Ctrl-C: stops image, kernel and guest-root builds at once (their pools get an InterruptedError). */
  signal?: AbortSignal | undefined;
}

/**
 * Brings every pool to the point where suites can run: its node image
 * (built or from the cache); for namespace pools also the inventory, read
 * from inside a short-lived environment; for qemu pools the kernel and the
 * guest root (booting happens in waves, see bootWave). A pool that fails here
 * is not fatal to the run: it carries its error and its cells become ERROR.
 */
export async function provisionPools(loaded: LoadedConfig, pools: readonly Pool[], opts: ProvisionOptions): Promise<ProvisionedPool[]> {
  const { settings } = loaded.config;
  const images = new Map<string, Promise<NodeImage>>();
  const kernels = new Map<string, Promise<Kernel>>();
  const roots = new Map<string, Promise<GuestRoot>>();
  // Pools that share an image, a kernel or a guest root share one resolution of it.
  const imageFor = (pool: Pool) =>
    shared(images, pool.image, () =>
      resolveImage(pool.image, loaded.images[pool.image]!, {
        cacheDir: opts.cacheDir,
        buildTimeoutMs: settings.timeouts.imageBuildMs,
        ...(opts.mirror ? { mirror: opts.mirror } : {}),
        signal: opts.signal,
        onProgress: (what) => {
          for (const q of pools) if (q.image === pool.image) opts.progress.update(q.name, `image ${pool.image}: ${what}…`);
        },
      }),
    );
  const kernelFor = (pool: Pool) => {
    const key = JSON.stringify(pool.kernel);
    return shared(kernels, key, () =>
      resolveKernel(pool.kernel as Exclude<KernelSpec, 'host'>, {
        cacheDir: opts.cacheDir,
        mirror: opts.mirror,
        timeoutMs: settings.timeouts.imageBuildMs,
        signal: opts.signal,
        onProgress: (what) => {
          for (const q of pools) if (JSON.stringify(q.kernel) === key) opts.progress.update(q.name, `${what}…`);
        },
      }),
    );
  };
  const rootFor = (pool: Pool, kernel: Kernel, image: NodeImage) =>
    shared(roots, `${kernel.key}/${image.key}/${pool.vm.modules.join(',')}`, () =>
      buildGuestRoot(kernel, image, opts.natives.agent, pool.vm.modules, {
        cacheDir: opts.cacheDir,
        timeoutMs: settings.timeouts.imageBuildMs,
        signal: opts.signal,
        onProgress: (what) => opts.progress.update(pool.name, `${what}…`),
      }),
    );
  return Promise.all(
    pools.map(async (pool): Promise<ProvisionedPool> => {
      const started = performance.now();
      const hostWorkDir = join(opts.workRoot, pool.name);
      const planned: PlannedPool = { name: pool.name, backend: pool.backend, rootfs: '', criuEnv: pool.criu.env, hostWorkDir, features: [], runtimes: [], ...(pool.bigMemMiB ? { bigMemMiB: pool.bigMemMiB } : {}) };
      const phases = { provisionMs: 0, bootMs: 0, suitesMs: 0, teardownMs: 0 };
      let image: NodeImage | null = null;
      try {
        opts.progress.update(pool.name, `image ${pool.image}: looking in the cache…`);
        image = await imageFor(pool);
        planned.rootfs = image.rootfs;
        if (pool.backend === 'qemu') {
          const kernel = await kernelFor(pool);
          const guestRoot = await rootFor(pool, kernel, image);
          phases.provisionMs = performance.now() - started;
          opts.progress.update(pool.name, `kernel ${kernel.release}, guest root ${Math.round(guestRoot.sizeBytes / 1e6)} MB ${guestRoot.built ? 'built' : 'cached'}; waiting to boot…`);
          return { planned, pool, image, inventory: null, vm: { kernel, guestRoot }, phases };
        }
        if (pool.backend === 'container') {
          phases.provisionMs = performance.now() - started;
          opts.progress.update(pool.name, `image ${pool.image}: ${image.built ? 'built' : 'cached'}; waiting for the container engine…`);
          return { planned, pool, image, inventory: null, phases };
        }
        opts.progress.update(pool.name, `image ${pool.image}: ${image.built ? `built in ${(image.buildMs / 1000).toFixed(0)} s` : 'cached'}; reading inventory…`);
        await mkdirPrivate(join(hostWorkDir, 'inventory'));
        const env = await NamespaceEnvironment.start({
          id: `${pool.name}/inventory`,
          rootfs: image.rootfs,
          hostWorkDir: join(hostWorkDir, 'inventory'),
          helper: opts.natives.helper,
          timeoutMs: settings.timeouts.environmentMs,
        });
        try {
          await env.copyIn(opts.natives.probes.hwBreakpoints, `${env.workDir}/hw-breakpoints`);
          const probe = await takeInventory(env, image.packages, pool.criu.env, settings.timeouts.commandMs, `${env.workDir}/hw-breakpoints`);
          planned.features = probe.features;
          planned.runtimes = probe.inventory.runtimes ?? [];
          opts.progress.update(pool.name, `ready: kernel ${probe.inventory.kernelRelease}, criu ${probe.inventory.criuVersion ?? 'not found'}`);
          return { planned, pool, image, inventory: probe.inventory, phases };
        } finally {
          await env.dispose();
          await removeTree(join(hostWorkDir, 'inventory'));
          phases.provisionMs = performance.now() - started;
        }
      } catch (e) {
        // apt and debootstrap errors name the mirror, which may carry credentials.
        planned.error = redactUrlsIn(`${(e as Error).name}: ${(e as Error).message}`);
        opts.progress.update(pool.name, e instanceof InterruptedError ? `stopped: ${redactUrlsIn(e.message)}` : `ERROR: ${redactUrlsIn((e as Error).message)}`);
        return { planned, pool, image, inventory: null, phases };
      }
    }),
  );
}

/** The promise already in MAP under KEY, or the one MAKE starts (and MAP keeps). */
function shared<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) map.set(key, (p = make()));
  return p;
}

export interface WaveOptions {
  cacheDir: string;
  natives: RunPlan['natives'];
  progress: Progress;
  accel: AccelChoice;
  suites: readonly string[];
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
}

/**
 * Boots the VMs of a wave of qemu pools side by side and reads each one's
 * inventory through the agent. Returns the machines that came up; a pool
 * whose VM did not (no boot, panic, no answer) gets its error and the
 * console tail, and the others go on.
 */
export async function bootWave(wave: readonly ProvisionedPool[], opts: WaveOptions): Promise<QemuMachine[]> {
  const qemuVersion = await qemuVersionString();
  const machines = await Promise.all(
    wave.map(async (p): Promise<QemuMachine | null> => {
      const { pool, planned, vm, image } = p;
      if (!vm || !image) return null;
      const started = performance.now();
      opts.progress.update(pool.name, `booting ${vm.kernel.release} (${opts.accel.accel})…`);
      let machine: QemuMachine | null = null;
      try {
        machine = await QemuMachine.start({
          id: pool.name,
          vmlinuz: vm.kernel.vmlinuz,
          initrd: vm.guestRoot.initrd,
          memoryMiB: pool.vm.memoryMiB,
          cpus: pool.vm.cpus,
          accel: opts.accel.accel,
          channels: 1 + opts.suites.length,
          dir: vmDir(pool.name),
          guard: opts.natives.guard,
          bootTimeoutMs: opts.timeouts.bootMs,
          signal: opts.signal,
        });
        p.phases.bootMs = machine.bootMs;
        opts.progress.update(pool.name, `booted in ${(machine.bootMs / 1000).toFixed(1)} s; reading inventory…`);
        const env = await QemuEnvironment.open({ id: `${pool.name}/inventory`, socket: machine.control, session: 'inventory', timeoutMs: opts.timeouts.environmentMs });
        try {
          await env.copyIn(opts.natives.probes.hwBreakpoints, `${env.workDir}/hw-breakpoints`);
          const kernelConfig = vm.kernel.configFile ? await readFile(vm.kernel.configFile, 'utf8').catch(() => undefined) : undefined;
          const probe = await takeInventory(env, image.packages, pool.criu.env, opts.timeouts.commandMs, `${env.workDir}/hw-breakpoints`, kernelConfig);
          planned.features = probe.features;
          planned.runtimes = probe.inventory.runtimes ?? [];
          p.inventory = {
            ...probe.inventory,
            vm: {
              accelerator: opts.accel.accel,
              acceleratorReason: opts.accel.accel === 'tcg' ? `${opts.accel.why}; ${TCG_ACCEL}: all vCPUs in one host thread` : opts.accel.why,
              kernel: vm.kernel.origin,
              qemu: qemuVersion,
              memoryMiB: pool.vm.memoryMiB,
              cpus: pool.vm.cpus,
              guestRootBytes: vm.guestRoot.sizeBytes,
              modulesLoaded: vm.guestRoot.modules.loaded,
            },
          };
        } finally {
          await env.dispose();
        }
        planned.vm = { sockets: Object.fromEntries(opts.suites.map((s, i) => [s, channelSocket(machine!.spec.dir, i + 1)])) };
        opts.progress.update(pool.name, `ready: kernel ${p.inventory.kernelRelease}, criu ${p.inventory.criuVersion ?? 'not found'} (${opts.accel.accel})`);
        return machine;
      } catch (e) {
        await machine?.dispose();
        if (!p.phases.bootMs) p.phases.bootMs = performance.now() - started;
        planned.error = `${(e as Error).name}: ${(e as Error).message}`;
        if (e instanceof BootError) planned.errorLog = e.consoleTail;
        opts.progress.update(pool.name, `ERROR: ${(e as Error).message}`);
        return null;
      }
    }),
  );
  return machines.filter((m): m is QemuMachine => m !== null);
}

/** Where a VM's sockets and console log live: short (unix socket paths are limited to 107 bytes), root-only, swept when stale. */
export function vmDir(pool: string): string {
  return join(tmpdir(), `${VM_DIR_PREFIX}${process.pid}-${pool}`);
}
export const VM_DIR_PREFIX = 'criu-compat-vm-';

let qemuVersionMemo: Promise<string> | undefined;
function qemuVersionString(): Promise<string> {
  qemuVersionMemo ??= run([QEMU, '--version'], { timeoutMs: 10_000 }).then((r) => /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown');
  return qemuVersionMemo;
}
