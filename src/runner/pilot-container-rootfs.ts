import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pilot } from '../config/pilot-schema.ts';
import type { Environment } from '../environments/environment.ts';
import { shq } from '../runtimes/container-runtime.ts';
import { unpackOciArchive } from '../runtimes/oci-unpack.ts';
import { run } from '../util/process.ts';

type ContainerService = Extract<Pilot['service'], { container: unknown }>['container'];

/** The container pilot's root filesystem could not be brought into the node (a harness or input problem: the cell's ERROR). */
export class ContainerRootfsError extends Error {
  constructor(pilot: string, problem: string) {
    super(`pilot ${pilot}: its container's root filesystem could not be staged in the node: ${problem}`);
    this.name = 'ContainerRootfsError';
  }
}

/** A container pilot's root filesystem in the node, and the environment its image asks for. */
export interface StagedRootfs {
  /** Directory in the node (under its work directory: removed with it). */
  dir: string;
  /** From the OCI image's config (PATH…); empty for a rootfs directory. */
  env: Record<string, string>;
  /** Where it came from, for the cell's reason: "OCI archive X (2 layers)" or "rootfs directory X". */
  source: string;
}

const staged = new Map<string, Promise<StagedRootfs>>();

/**
 * Brings a container pilot's root filesystem into the node once per node
 * and pilot (the stages' attempts share it): a rootfs directory is packed
 * on the host with tar and unpacked in the node, owners kept; an OCI archive
 * is copied in and unpacked there (oci-unpack.ts). The copy the node gets is
 * its own: a container writing to it never touches the operator's files.
 */
export function stageContainerRootfs(env: Environment, pilot: Pilot, o: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<StagedRootfs> {
  if (!('container' in pilot.service)) throw new TypeError(`pilot ${pilot.name} is not a container service`);
  const key = `${env.id}\0${env.workDir}\0${pilot.name}`;
  let p = staged.get(key);
  if (!p) {
    p = stage(env, pilot.name, pilot.service.container, o);
    staged.set(key, p);
    // A failure is not kept: the next stage tries again (and says so itself).
    p.catch(() => staged.delete(key));
  }
  return p;
}

async function stage(env: Environment, name: string, c: ContainerService, o: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<StagedRootfs> {
  const dir = `${env.workDir}/pilot-rootfs/${name}`;
  await env.makeDir(`${env.workDir}/pilot-rootfs`);
  if (c.archive) {
    const inNode = `${dir}.oci.tar`;
    await env.copyIn(c.archive, inNode);
    try {
      const image = await unpackOciArchive(env, inNode, dir, o);
      return { dir, env: image.env, source: `OCI archive ${c.archive} (${image.layers} layer(s))` };
    } catch (e) {
      throw new ContainerRootfsError(name, (e as Error).message);
    } finally {
      await env.remove(inNode).catch(() => undefined);
    }
  }
  const from = c.rootfs!;
  const tmp = await mkdtemp(join(tmpdir(), 'cc-pilot-rootfs-'));
  try {
    const tar = join(tmp, 'rootfs.tar');
    const packed = await run(['tar', '--numeric-owner', '-C', from, '-cf', tar, '.'], { timeoutMs: o.timeoutMs, signal: o.signal });
    if (packed.exitCode !== 0) throw new ContainerRootfsError(name, `tar of ${from} on the host failed: ${packed.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    const inNode = `${dir}.tar`;
    await env.copyIn(tar, inNode);
    const r = await env.exec(['sh', '-c', `rm -rf ${shq(dir)} && mkdir -p ${shq(dir)} && chmod 755 ${shq(dir)} && tar --numeric-owner -xpf ${shq(inNode)} -C ${shq(dir)}; s=$?; rm -f ${shq(inNode)}; exit $s`], { timeoutMs: o.timeoutMs, signal: o.signal });
    if (r.exitCode !== 0) throw new ContainerRootfsError(name, `unpacking it in the node failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
    return { dir, env: {}, source: `rootfs directory ${from}` };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
