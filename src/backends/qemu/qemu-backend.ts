import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelSpec } from '../../config/schema.ts';
import { chooseAccel, type AccelChoice } from '../../environments/qemu/accel.ts';
import { cpuModelProblem, qemuCpuModels } from '../../config/qemu-cpu-models.ts';
import { BootError, QEMU, QemuMachine, TCG_ACCEL, channelSocket } from '../../environments/qemu/qemu-machine.ts';
import { openVmSession } from '../../environments/qemu/vm-session.ts';
import { NodeLink, attachTap, claimVmNic, configureInside, type VmNic } from '../../environments/network/node-link.ts';
import { EnvironmentError } from '../../errors.ts';
import { run } from '../../util/process.ts';
import { failPool, probePool } from '../inventory.ts';
import { provisionNodeImage, type PoolBackend, type ProvisionedPool, type StartContext } from '../pool-backend.ts';

export const VM_DIR_PREFIX = 'criu-compat-vm-';

/**
 * A Debian kernel in a QEMU VM: the guest root (node image + kernel modules
 * + our agent as init) boots from an initrd; channel 0 serves the inventory,
 * channel i+1 the i-th session the suites asked for.
 */
export const qemuBackend: PoolBackend = {
  name: 'qemu',
  placement: 'waves',
  tempPrefixes: [VM_DIR_PREFIX],

  async provision(p, ctx) {
    const { pool } = p;
    const image = await provisionNodeImage(p, ctx);
    const kernel = await ctx.provisioner.kernel(pool.kernel as Exclude<KernelSpec, 'host'>);
    const guestRoot = await ctx.provisioner.guestRoot(kernel, image, ctx.agent, pool.vm.modules, (what) => ctx.progress(pool.name, `${what}…`));
    p.vm = { kernel, guestRoot };
    ctx.progress(pool.name, `kernel ${kernel.release}, guest root ${Math.round(guestRoot.sizeBytes / 1e6)} MB ${guestRoot.built ? 'built' : 'cached'}; waiting to boot…`);
  },

  async start(pools, ctx) {
    const live = pools.filter((p) => p.vm && p.image && !p.planned.error);
    if (!live.length) return async () => undefined;
    const first = live[0]!.vm!;
    const accel = await ctx.once('qemu-accel', () =>
      chooseAccel(ctx.accel, { vmlinuz: first.kernel.vmlinuz, agent: ctx.natives.agent, guard: ctx.natives.guard, cacheDir: ctx.cacheDir, workDir: ctx.workRoot }),
    );
    const qemuVersion = await qemuVersionString();
    const machines = (await Promise.all(live.map((p) => bootPool(p, ctx, accel, qemuVersion)))).filter((m): m is QemuMachine => m !== null);
    return async () => {
      await Promise.all(machines.map((m) => m.dispose()));
    };
  },

  async openSession(pool, session, ctx) {
    const socket = pool.vm?.sockets[session];
    if (!socket) throw new EnvironmentError(`pool ${pool.name}: no VM channel for suite ${session}`);
    const env = await openVmSession({ id: `${pool.name}/${session}`, socket, session, timeoutMs: ctx.timeoutMs });
    if (pool.network) env.network = new NodeLink(env, pool.network);
    return env;
  },
};

/**
 * Boots one pool's VM and reads its inventory through the agent. A VM that
 * does not come up (no boot, panic, no answer) leaves its pool with the
 * error and the console tail; returns the machine when it did.
 */
async function bootPool(p: ProvisionedPool, ctx: StartContext, accel: AccelChoice, qemuVersion: string): Promise<QemuMachine | null> {
  const { pool, planned } = p;
  const vm = p.vm!;
  const started = performance.now();
  ctx.progress(pool.name, `booting ${vm.kernel.release} (${accel.accel})…`);
  let machine: QemuMachine | null = null;
  try {
    const problem = pool.vm.cpu ? cpuModelProblem(pool.vm.cpu, await qemuCpuModels(), accel.accel) : undefined;
    if (problem) throw new EnvironmentError(`pool ${pool.name}: vm.cpu "${pool.vm.cpu}": ${problem}`);
    const nic: VmNic | undefined = ctx.network ? await claimVmNic(ctx.network, pool.name) : undefined;
    machine = await QemuMachine.start({
      nic: nic && { tap: nic.tap, mac: nic.mac },
      id: pool.name,
      vmlinuz: vm.kernel.vmlinuz,
      initrd: vm.guestRoot.initrd,
      memoryMiB: pool.vm.memoryMiB,
      cpus: pool.vm.cpus,
      accel: accel.accel,
      cpu: pool.vm.cpu,
      channels: 1 + ctx.sessions.length,
      dir: vmDir(pool.name),
      guard: ctx.natives.guard,
      bootTimeoutMs: ctx.timeouts.bootMs,
      signal: ctx.signal,
    });
    p.phases.bootMs = machine.bootMs;
    ctx.progress(pool.name, `booted in ${(machine.bootMs / 1000).toFixed(1)} s; reading inventory…`);
    const env = await openVmSession({ id: `${pool.name}/inventory`, socket: machine.control, session: 'inventory', timeoutMs: ctx.timeouts.environmentMs });
    try {
      if (nic && ctx.network) {
        await attachTap(ctx.network, nic.tap);
        planned.network = (await configureInside(env, nic.address)).toJSON();
      }
      const kernelConfig = vm.kernel.configFile ? await readFile(vm.kernel.configFile, 'utf8').catch(() => undefined) : undefined;
      const extras = {
        vm: {
          accelerator: accel.accel,
          acceleratorReason: accel.accel === 'tcg' ? `${accel.why}; ${TCG_ACCEL}: all vCPUs in one host thread` : accel.why,
          kernel: vm.kernel.origin,
          qemu: qemuVersion,
          memoryMiB: pool.vm.memoryMiB,
          cpus: pool.vm.cpus,
          cpuModel: machine.cpuModel,
          guestRootBytes: vm.guestRoot.sizeBytes,
          modulesLoaded: vm.guestRoot.modules.loaded,
        },
      };
      await probePool(p, env, { hwBreakpoints: ctx.natives.probes.hwBreakpoints, commandMs: ctx.timeouts.commandMs, kernelConfig, extras });
    } finally {
      await env.dispose();
    }
    planned.vm = { sockets: Object.fromEntries(ctx.sessions.map((s, i) => [s, channelSocket(machine!.spec.dir, i + 1)])) };
    ctx.progress(pool.name, `ready: kernel ${p.inventory!.kernelRelease}, criu ${p.inventory!.criuVersion ?? 'not found'} (${accel.accel})`);
    return machine;
  } catch (e) {
    await machine?.dispose();
    if (!p.phases.bootMs) p.phases.bootMs = performance.now() - started;
    failPool(p, e, ctx.progress, e instanceof BootError ? e.consoleTail : undefined);
    return null;
  }
}

/** Where a VM's sockets and console log live: short (unix socket paths are limited to 107 bytes), root-only, swept when stale. */
export function vmDir(pool: string): string {
  return join(tmpdir(), `${VM_DIR_PREFIX}${process.pid}-${pool}`);
}

let qemuVersionMemo: Promise<string> | undefined;
function qemuVersionString(): Promise<string> {
  qemuVersionMemo ??= run([QEMU, '--version'], { timeoutMs: 10_000 }).then((r) => /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown');
  return qemuVersionMemo;
}
