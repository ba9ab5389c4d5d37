import { CRI_MIGRATION_WORKLOADS, type Settings } from '../config/schema.ts';
import { containerdVersion } from '../runtimes/cri/containerd-node.ts';
import { CriPods } from '../runtimes/cri/cri-pods.ts';
import type { Cell } from '../results/schema.ts';
import type { CellDraft } from './cell.ts';
import { checkpointCell, restoreCell } from './cri-cells.ts';
import type { MigrationCase, MigrationNode } from './migration.ts';
import type { Attempt } from './repeat.ts';
import { moveTree } from './transfer.ts';
import { CriPeer, type CriPeerOptions } from './cri-peer.ts';
import { EXTERNAL_TCP_WORKLOAD, NetworkContinuityError } from './migration-tcp.ts';
import { EnvironmentError } from '../errors.ts';
import type { PodRef } from '../runtimes/cri/cri-pods.ts';
import { TransferTamperedError } from './transfer-integrity.ts';

/**
 * Mode cri: a container moved between pools the kubelet's way. The source
 * pool's containerd runs the workload in a pod and writes a checkpoint
 * archive (CheckpointContainer); the archive moves to the same path on the
 * destination's node (checked as every transfer is); the destination's own
 * containerd restores it into a new pod (CreateContainer with the archive as
 * image, the base image pulled from that node's registry), and the workload
 * verifies itself there. Each node's containerd is brought up once and shared
 * by the run's pairs (see CriMigrationNodes).
 */

/** A pool's containerd for mode cri, or why it has none. */
export type CriNode = { ok: true; pods: CriPods; version: string } | { ok: false; status: 'SKIP' | 'ERROR'; reason: string };

export interface CriNodeInputs {
  node: MigrationNode;
  /** Host paths of cc-pause and cc-registry. */
  pause: string | undefined;
  registry: string | undefined;
  /** Workload name → its binary inside the node (the same set on every node: the workload image's digest must match). */
  binaries: Record<string, string>;
  tag: string;
  timeouts: Settings['timeouts'];
  criuEnv: Record<string, string>;
}

/** The workloads every node's workload image holds: mode cri's, those the run built (the same list on every node). */
export function criImageWorkloads(built: Record<string, string>): string[] {
  return CRI_MIGRATION_WORKLOADS.filter((w) => w in built);
}

/**
 * One containerd per pool, brought up when a cri cell first needs it and
 * stopped at the end (stopAll returns what was left behind, by pool).
 */
export class CriMigrationNodes {
  private readonly nodes = new Map<string, Promise<CriNode>>();

  get(pool: string, make: () => CriNodeInputs): Promise<CriNode> {
    let n = this.nodes.get(pool);
    if (!n) {
      n = bringUp(make());
      this.nodes.set(pool, n);
    }
    return n;
  }

  async stopAll(): Promise<Record<string, string[]>> {
    const left: Record<string, string[]> = {};
    for (const [pool, p] of this.nodes) {
      const n = await p.catch(() => undefined);
      if (!n?.ok) continue;
      const l = await n.pods.stop().catch((e: Error) => [`stopping failed: ${e.message}`]);
      if (l.length) left[pool] = l;
    }
    this.nodes.clear();
    return left;
  }
}

async function bringUp(i: CriNodeInputs): Promise<CriNode> {
  const { env, pool } = i.node;
  // A node that breaks here is this pool's ERROR, not a rejected promise every later cell and stopAll would trip over.
  let version: string | null;
  try {
    version = await containerdVersion(env, i.timeouts.commandMs);
  } catch (e) {
    return { ok: false, status: 'ERROR', reason: `harness: cannot look for containerd on ${pool}: ${(e as Error).message}` };
  }
  if (!version) return { ok: false, status: 'SKIP', reason: `capability missing: containerd on ${pool} (its node image has none)` };
  // The CRI client dials containerd's socket by its host path; a VM node is reached over the run's network only by the cri suite.
  if (!env.hostPath) return { ok: false, status: 'SKIP', reason: `not supported by the harness: mode cri on a ${env.backend} node (${pool}); it runs between namespace pools, whose containerd socket the CRI client dials by its host path` };
  if (!i.pause || !i.registry) return { ok: false, status: 'ERROR', reason: 'harness: the plan carries no cc-pause or cc-registry binary' };
  const pods = new CriPods({ env, pause: i.pause, registry: i.registry, workloads: i.binaries, tag: i.tag, timeoutMs: i.timeouts.criuMs, startTimeoutMs: i.timeouts.bootMs, criuEnv: i.criuEnv });
  try {
    await pods.start();
    return { ok: true, pods, version: pods.node.version };
  } catch (e) {
    const left = await pods.stop().catch(() => []);
    return { ok: false, status: 'ERROR', reason: `containerd ${version} on ${pool} could not be brought up: ${(e as Error).message}${left.length ? ` (left: ${left.join('; ')})` : ''}` };
  }
}

function attempt(d: CellDraft, extra: Partial<Attempt> = {}): Attempt {
  return { status: d.status, reason: d.reason, durations: d.durations, metrics: d.metrics ?? {}, diagnoses: d.diagnoses ?? [], logExcerpt: d.logExcerpt ?? [], commands: d.commands ?? [], workloadOutput: d.workloadOutput ?? [], ...extra };
}

export interface CriMigrationContext {
  source: { pool: string; env: MigrationNode['env']; cri: CriNode };
  destination: { pool: string; env: MigrationNode['env']; cri: CriNode };
  /** The attempt's directory: the same path on both nodes. */
  dir: string;
  /** The host directory the archive passes through. */
  transit: string;
  timeouts: Settings['timeouts'];
  /** tcp-external: its peer on a client node of the run's network (see cri-peer.ts). */
  externalPeer?: Omit<CriPeerOptions, 'nodeDir'> | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * One CRI migration: checkpoint in a pod on the source, the archive moved,
 * restored into a new pod on the destination. A containerd that cannot
 * checkpoint or restore SKIPs, naming its pool and version.
 */
export async function attemptCriMigration(c: MigrationCase, x: CriMigrationContext): Promise<Attempt> {
  for (const e of [x.source, x.destination]) if (!e.cri.ok) return attempt({ status: e.cri.status, reason: e.cri.reason, durations: { totalMs: 0 } });
  const src = x.source.cri as Extract<CriNode, { ok: true }>;
  const dst = x.destination.cri as Extract<CriNode, { ok: true }>;
  const same = x.source.env === x.destination.env;
  const t0 = Date.now();
  const archiveDir = `${x.dir}/archive`;
  const commands = [`[${x.source.pool}] CRI CheckpointContainer (containerd ${src.version})`];
  let peer: CriPeer | undefined;
  try {
    for (const env of same ? [x.source.env] : [x.source.env, x.destination.env]) await env.remove(x.dir);
    await x.source.env.makeDir(archiveDir);
    if (c.workload === EXTERNAL_TCP_WORKLOAD) {
      peer = new CriPeer({ ...(x.externalPeer ?? { network: undefined, guard: '', peerBinary: '', hostDir: '' }), nodeDir: `${x.dir}/peer` }, (l) => commands.push(l));
      await peer.open(x.source.env, same ? [x.source.env] : [x.source.env, x.destination.env], x.timeouts.readyMs);
    }
    const extras = peer ? { ...peer.extras, beforeCheckpoint: async (pod: PodRef) => peer!.cutOff(x.source.env, await src.pods.podAddress(pod)) } : {};
    const cp = await checkpointCell({ pods: src.pods, dir: archiveDir, timeoutMs: x.timeouts.criuMs, version: src.version }, c.workload, extras);
    await x.source.env.remove(`${archiveDir}/archive-check`);
    if (!cp.archive) {
      const d = cp.draft;
      return attempt({ ...d, reason: `on ${x.source.pool}: ${d.reason}${d.status === 'SKIP' ? ': nothing to migrate' : ''}` }, { commands });
    }
    const metrics: Cell['metrics'] = { ...(cp.draft.metrics ?? {}) };
    if (!same) {
      const moved = await moveTree(x.source.env, x.destination.env, archiveDir, x.transit, { signal: x.signal });
      metrics.migration = { transferMs: moved.ms, transferBytes: moved.bytes, ...(moved.integrityMs !== undefined ? { transferIntegrityMs: moved.integrityMs } : {}) };
      await x.source.env.remove(x.dir);
      commands.push(`[host] moved ${moved.files} file(s), ${moved.bytes} bytes, ${x.source.pool} → ${x.destination.pool} (integrity checked)`);
    }
    if (peer && !same) await peer.routeVia(x.destination.env);
    commands.push(`[${x.destination.pool}] CRI RunPodSandbox, CreateContainer from the archive, StartContainer (containerd ${dst.version})`);
    let r = await restoreCell({ pods: dst.pods, dir: archiveDir, timeoutMs: x.timeouts.criuMs, version: dst.version }, c.workload, cp.archive, peer?.extras.mounts);
    const peerSaid = r.status === 'PASS' ? await peer?.peerFailure() : undefined;
    if (peerSaid) r = { ...r, status: 'FAIL', reason: `the restored workload verified itself, but its peer on the client node says: ${peerSaid}` };
    // CNI gives every new pod a new address: the connection's own end was bound to the checkpointed pod's.
    if (peer && r.status !== 'PASS' && r.diagnoses?.some((d) => d.id === 'tcp-address-missing')) r = { ...r, reason: `${r.reason} (the connection's end was bound to the checkpointed pod's address ${peer.podAddress}; the CNI gave the restored pod a new one, and CRI has no way to ask for the old)` };
    if (peer) r = { ...r, workloadOutput: [...(r.workloadOutput ?? []), ...(await peer.peerLines()).map((l) => `peer: ${l}`)] };
    const durations = { ...cp.draft.durations, ...r.durations, totalMs: Date.now() - t0 };
    const where = same ? `checkpointed and restored on ${x.source.pool}` : `checkpointed on ${x.source.pool} (containerd ${src.version}), restored on ${x.destination.pool} (containerd ${dst.version})`;
    return attempt({ ...r, durations, reason: `${where}: ${r.reason}` }, { metrics: { ...metrics, ...(r.metrics ?? {}) }, commands });
  } catch (e) {
    if (e instanceof NetworkContinuityError || e instanceof EnvironmentError) return attempt({ status: 'ERROR', reason: `harness: ${e.message}`, durations: { totalMs: Date.now() - t0 } }, { commands });
    if (e instanceof TransferTamperedError) return attempt({ status: 'ERROR', reason: e.message, durations: { totalMs: Date.now() - t0 }, diagnoses: [e.diagnosis] }, { commands });
    throw e;
  } finally {
    await peer?.close();
    for (const env of same ? [x.source.env] : [x.source.env, x.destination.env]) await env.remove(x.dir).catch(() => undefined);
  }
}
