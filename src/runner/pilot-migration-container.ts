import { readCriuStats } from '../criu/stats.ts';
import { describeRuntimeFailure } from '../runtimes/container-runtime.ts';
import type { RuntimeInfo } from '../runtimes/detect.ts';
import { ARCHIVE_ENTRIES, carryArchive } from './container-round-trip.ts';
import { makePilotContainer, pilotRuntime, runtimeFlags, type PilotContainer } from './pilot-container.ts';
import { ContainerRootfsError } from './pilot-container-rootfs.ts';
import type { PilotMigrationContext, PilotMove, Recorder } from './pilot-migration.ts';
import { Stop } from './pilot-stage.ts';
import { moveTree, moveTrees } from './transfer.ts';

/**
 * A container pilot's move, the way its runtime moves a container (as the
 * migration matrix's runtime mode does): the same runtime on both ends (a
 * SKIP naming the end that lacks it or cannot checkpoint there); the
 * pilot's root filesystem staged on both nodes at the same path before
 * anything starts (as an image is pulled ahead of a migration), and the
 * destination's runtime prepared. runc/crun: checkpoint into the attempt's
 * image directory on the source; the images, CRIU's work directory and the
 * container's bundle (config, CRIU configuration file) moved to the same
 * paths (integrity-checked); the destination's runtime restores with its
 * own CRIU. podman (its container made from an image of the root
 * filesystem): that image saved and loaded on the destination before the
 * checkpoint, checkpoint --export to an archive, the archive carried
 * (root-only, sealed, checked), restore --import on the destination. The
 * fallback restores the same checkpoint on the source (podman: its archive
 * imported again, the exported container first removed).
 */
export async function containerMove(x: PilotMigrationContext, record: Recorder, commands: string[]): Promise<PilotMove | Stop> {
  const { source: src, destination: dst, pilot, dir } = x;
  const infos: RuntimeInfo[] = [];
  for (const node of [src, dst]) {
    if (!node.runtimes || !node.criuEnv) return new Stop('ERROR', `harness: no runtime inventory of ${node.pool} was handed to the migration of container pilot ${pilot.name}`);
    const info = pilotRuntime(node.runtimes, pilot, { checkpoint: true, options: pilot.criu.options, stage: 'migration', where: node.pool });
    if (typeof info === 'string') return new Stop('SKIP', info);
    infos.push(info);
  }
  const rt = infos[0]!.name;
  const podman = rt === 'podman';
  const { flags, config } = runtimeFlags(rt, pilot.criu.options);
  const archive = `${dir}/checkpoint.tar.gz`;
  const made: PilotContainer[] = [];
  try {
    for (const [i, node] of [src, dst].entries())
      made.push(await makePilotContainer(node.env, pilot, { info: infos[i]!, dir, probe: x.probe, timeouts: x.timeouts, criu: node.criu, criuEnv: node.criuEnv!, tag: x.tag ?? `pilot-${pilot.name}`, criuConfig: config, signal: x.signal }));
  } catch (e) {
    if (e instanceof ContainerRootfsError) return new Stop('ERROR', e.message);
    throw e;
  }
  const [at, there] = made as [PilotContainer, PilotContainer];
  const ready = await there.prepareRuntime();
  if (!ready.ok) {
    await there.remove();
    return new Stop('ERROR', `on ${dst.pool}: ${ready.detail}`);
  }
  const note = at.criuConfigNote();
  if (note) commands.push(note);
  return {
    at,
    there,
    // podman re-creates the container on import from its image: the destination gets that image first (the same ID, as a registry pull would give), ahead of the move as a controller pulls it.
    ...(podman
      ? {
          async beforeCheckpoint() {
            const [from, to] = [at.runtime.capabilities.exportImport, there.runtime.capabilities.exportImport];
            if (!from || !to) throw new Stop('ERROR', 'harness: the podman driver offers no export/import');
            const tar = `${dir}/image/image.tar`;
            await src.env.makeDir(`${dir}/image`);
            const saved = record(src, await from.saveImageOf(at.id, tar));
            if (!saved.ok) throw new Stop('ERROR', `on ${src.pool}: ${describeRuntimeFailure('podman save of the container\'s image', saved, x.timeouts.criuMs)}`, saved);
            await moveTree(src.env, dst.env, `${dir}/image`, `${x.transit}-image`, { signal: x.signal });
            const loaded = record(dst, await to.loadImage(tar));
            if (!loaded.ok) throw new Stop('ERROR', `on ${dst.pool}: ${describeRuntimeFailure('podman load of the container\'s image', loaded, x.timeouts.criuMs)}`, loaded);
          },
        }
      : {}),
    async checkpoint(figures) {
      const ck = record(src, await at.checkpoint(`${dir}/img`, { ...flags, ...(podman ? { exportTo: archive } : {}) }));
      if (!ck.ok) return ck;
      figures.checkpointMs = ck.result.durationMs;
      // podman printed CRIU's figures; runc and crun have CRIU write them into the work directory beside its logs.
      const frozenUs = ck.printedStats?.['criu.frozenTimeUs'] ?? (podman ? undefined : (await readCriuStats(src.env, `${dir}/img.work`)).criuDump?.['frozenTimeUs']);
      figures.freezeMs = frozenUs !== undefined ? frozenUs / 1000 : figures.checkpointMs;
      const bytes = await src.env.du(podman ? archive : `${dir}/img`).catch(() => 0);
      if (bytes) figures.imageBytes = bytes;
      return ck;
    },
    async carry() {
      const t0 = performance.now();
      if (podman) {
        // podman writes rootfs-diff.tar only when the container changed its root filesystem: a service need not have.
        const moved = await carryArchive(src.env, archive, dst.env, archive, ARCHIVE_ENTRIES.filter((e) => e !== 'rootfs-diff.tar'));
        if (moved.problem) throw new Stop('FAIL', `the checkpoint podman exported on ${src.pool}: ${moved.problem}`);
        return performance.now() - t0;
      }
      const bundle = at.runtime.containerFiles?.(at.id);
      if (!bundle) throw new Stop('ERROR', `harness: ${rt}'s driver names no container files to move`);
      return (await moveTrees(src.env, dst.env, [`${dir}/img`, `${dir}/img.work`, bundle], x.transit, { signal: x.signal })).ms;
    },
    async restore(end) {
      const [node, s] = end === 'destination' ? [dst, there] : [src, at];
      // The exported container still holds its name on the source: the fallback imports the same archive in its place.
      if (podman && end === 'source') await at.runtime.remove(at.id);
      return record(node, await s.restore(`${dir}/img`, { ...flags, ...(podman ? { importFrom: archive } : {}) }));
    },
    failure: (what, run) => describeRuntimeFailure(`${rt} ${what}${podman && what === 'restore' ? ' --import' : ''}`, run, x.timeouts.criuMs),
  };
}
