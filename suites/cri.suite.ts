/**
 * cri: the Kubernetes path. containerd runs inside the node (its CRI plugin
 * on runc, a bridge CNI network, the harness's own pause and workload images
 * imported from OCI archives made in the node: nothing pulled), and the
 * harness speaks CRI to it as the kubelet does. Per pool: `version`
 * (containerd answers CRI Version), `run` (a pod and a workload container
 * that gets ready), `checkpoint` (CheckpointContainer to a tar path with a
 * timeout, the kubelet's call; the archive checked: entries, 0600 root,
 * CRIU's stats decoded), `restore` and `restore/process-tree` (the archive
 * as the image of a new container in a new pod; the workload verifies its
 * state). A containerd that cannot SKIPs naming its version and the missing
 * call; a pool without containerd gets one SKIP cell. On a VM the host has
 * no path to containerd's socket: containerd also serves CRI on TCP at the
 * VM's address on the run's network, reached through a relay's unix socket
 * (src/runtimes/cri/cri-relay.ts), and restore/other-node SKIPs (the pool's
 * sessions are one machine). Steps in src/runner/cri-cells.ts.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, inject, test } from 'vitest';
import { settle, type CellDraft } from '../src/runner/cell.ts';
import { checkpointCell, restoreCell, startWorkload, type CriCellContext } from '../src/runner/cri-cells.ts';
import { copyFile } from 'node:fs/promises';
import { binaryPath, openEnvironment, workloadBinaries } from '../src/runner/environments.ts';
import type { Environment } from '../src/environments/environment.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { CRI_PEER_SESSION, needs } from '../src/suites/cri.needs.ts';
import { containerdVersion } from '../src/runtimes/cri/containerd-node.ts';
import { CriPods } from '../src/runtimes/cri/cri-pods.ts';
import { startCriRelay } from '../src/runtimes/cri/cri-relay.ts';
import { CRI_TCP_PORT } from '../src/runtimes/cri/containerd-config.ts';
import { VM_DIR_PREFIX } from '../src/backends/qemu/qemu-backend.ts';
import { CriPeer } from '../src/runner/cri-peer.ts';
import { EXTERNAL_TCP_WORKLOAD } from '../src/runner/migration-tcp.ts';

const SUITE = 'cri';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;

describe.concurrent.each(pools)('$name', (pool) => {
  // A node image without containerd (its rootfs on the host, whatever the backend): one cell says so, and no node is opened.
  if (pool.rootfs && !existsSync(join(pool.rootfs, 'usr/bin/containerd'))) {
    describe(SUITE, () => {
      test('containerd', (ctx) => settle(ctx, { pool: pool.name, suite: SUITE, check: 'containerd' }, new Date(), { status: 'SKIP', reason: 'capability missing: no containerd in this node image', durations: { totalMs: 0 } }));
    });
    return;
  }
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.criuMs, workloads: needs.copyWorkloads });
  const tag = `${plan.runId}-${pool.name}-cri`.replace(/[^A-Za-z0-9_.-]/g, '_');
  let pods: CriPods | undefined;
  let up: { ok: true; version: string } | { ok: false; status: 'SKIP' | 'ERROR'; reason: string } | undefined;
  const archives = new Map<string, string>();
  const checkpointed = new Map<string, string>();

  const bringUp = async (): Promise<NonNullable<typeof up>> => {
    if (up) return up;
    const version = await containerdVersion(session.env, t.commandMs);
    if (!version) return (up = { ok: false, status: 'SKIP', reason: 'capability missing: no containerd in this node image' });
    // A VM (or node container): containerd also serves CRI on TCP at the node's address on the run's network, reached through a relay.
    const link = session.env.network;
    const network = plan.network;
    if (!session.env.hostPath && !(link && network))
      return (up = { ok: false, status: 'ERROR', reason: `harness: a ${session.env.backend} node has no host path to containerd's socket and no address on the run's node network (a harness bug: the cri suite declares the network for such nodes with containerd)` });
    if (!plan.natives.pause || !plan.natives.registry) return (up = { ok: false, status: 'ERROR', reason: 'harness: the plan carries no cc-pause or cc-registry binary' });
    const bins = workloadBinaries(plan, pool);
    const remote =
      !session.env.hostPath && link && network
        ? { address: link.address, port: CRI_TCP_PORT, relay: () => startCriRelay({ network, guard: plan.natives.guard, target: { address: link.address, port: CRI_TCP_PORT }, dir: join(tmpdir(), `${VM_DIR_PREFIX}${network.runPid}-${pool.name}-cri`), timeoutMs: t.commandMs }) }
        : undefined;
    pods = new CriPods({ env: session.env, pause: plan.natives.pause, registry: plan.natives.registry, workloads: Object.fromEntries(needs.workloads.map((w) => [w, binaryPath(session.env, bins[w]!)])), tag, timeoutMs: t.criuMs, startTimeoutMs: t.bootMs, criuEnv: pool.criuEnv, ...(remote ? { remote } : {}) });
    try {
      await pods.start();
      return (up = { ok: true, version: pods.node.version });
    } catch (e) {
      return (up = { ok: false, status: 'ERROR', reason: `containerd ${version} could not be brought up: ${(e as Error).message}` });
    }
  };
  // tcp-external's peer and archive, from its checkpoint cell to its restore cell.
  let external: { peer: CriPeer; archive?: string; said: string } | undefined;
  // The second node (restore of a checkpoint taken on the first), brought up on first use.
  let peer: { env: Environment; pods?: CriPods; error?: string } | undefined;
  const bringUpPeer = async (): Promise<{ env: Environment; pods?: CriPods; error?: string }> => {
    if (peer) return peer;
    const env = await openEnvironment(plan, pool, CRI_PEER_SESSION, { workloads: true });
    const bins = workloadBinaries(plan, pool);
    const p = new CriPods({ env, pause: plan.natives.pause!, registry: plan.natives.registry!, workloads: Object.fromEntries(needs.workloads.map((w) => [w, binaryPath(env, bins[w]!)])), tag: `${tag}-peer`, timeoutMs: t.criuMs, startTimeoutMs: t.bootMs, criuEnv: pool.criuEnv });
    peer = { env, pods: p };
    try {
      await p.start();
    } catch (e) {
      peer.error = `the second node's containerd could not be brought up: ${(e as Error).message}`;
    }
    return peer;
  };
  afterAll(async () => {
    await external?.peer.close();
    for (const [what, p] of [
      ['', pods],
      [' (second node)', peer?.pods],
    ] as const) {
      const left = await p?.stop().catch((e: Error) => [`stopping failed: ${e.message}`]);
      if (left?.length) console.error(`${pool.name}${what}: containerd left behind: ${left.join('; ')}`);
    }
    await peer?.env.dispose();
  });

  describe(SUITE, { concurrent: false }, () => {
    const cell = (check: string, workload: string | undefined, body: (c: CriCellContext) => Promise<CellDraft>) =>
      test(check, async (ctx) => {
        const started = new Date();
        const id = { pool: pool.name, suite: SUITE, check, runtime: 'containerd', ...(workload ? { workload } : {}) };
        const u = await bringUp();
        if (!u.ok) return settle(ctx, id, started, { status: u.status, reason: u.reason, durations: { totalMs: 0 } });
        const dir = `${session.env.workDir}/cells/${check.replace(/\W+/g, '-')}`;
        await session.env.makeDir(dir);
        let draft: CellDraft;
        try {
          draft = await body({ pods: pods!, dir, timeoutMs: t.criuMs, version: u.version });
        } catch (e) {
          draft = { status: 'ERROR', reason: `harness: ${(e as Error).message}`, durations: { totalMs: Date.now() - started.getTime() } };
        }
        settle(ctx, id, started, draft);
      });

    cell('version', undefined, async (c) => {
      const v = await c.pods.client.version(t.commandMs);
      return { status: 'PASS', reason: `CRI ${v.runtime_api_version}: ${v.runtime_name} ${v.runtime_version} (snapshotter ${c.pods.node.snapshotter})`, durations: { totalMs: 0 } };
    });
    cell('run', 'counter', async (c) => {
      const w = await startWorkload(c, 'counter');
      await c.pods.removePod(w.pod);
      return w.draft ?? { status: 'PASS', reason: `a pod on the CNI bridge and the workload container ready in ${w.startMs} ms`, durations: { totalMs: w.startMs, startMs: w.startMs } };
    });
    for (const workload of needs.workloads.filter((w) => w !== EXTERNAL_TCP_WORKLOAD)) {
      cell(workload === 'counter' ? 'checkpoint' : `checkpoint/${workload}`, workload, async (c) => {
        const r = await checkpointCell(c, workload);
        await c.pods.o.env.remove(`${c.dir}/archive-check`);
        if (r.archive) archives.set(workload, r.archive);
        checkpointed.set(workload, `${r.draft.status}: ${r.draft.reason}`);
        return r.draft;
      });
      cell(workload === 'counter' ? 'restore' : `restore/${workload}`, workload, async (c) => {
        const archive = archives.get(workload);
        if (!archive) {
          const cp = checkpointed.get(workload) ?? 'not run';
          // A checkpoint the runtime cannot take is a missing capability of this tuple; one that failed leaves nothing to test.
          return cp.startsWith('SKIP')
            ? { status: 'SKIP', reason: `${cp.slice(6)}: nothing to restore`, durations: { totalMs: 0 } }
            : { status: 'ERROR', reason: `no checkpoint archive to restore (its checkpoint cell: ${cp.slice(0, 300)})`, durations: { totalMs: 0 } };
        }
        try {
          return await restoreCell(c, workload, archive);
        } finally {
          await c.pods.o.env.remove(archive);
        }
      });
    }
    // tcp-external: the pod's connection goes to a peer outside it, on a client node of the run's network (cri-peer.ts).
    cell('checkpoint/tcp-external', EXTERNAL_TCP_WORKLOAD, async (c) => {
      const env = c.pods.o.env;
      if (!plan.network || !env.network) return { status: 'SKIP', reason: `capability missing: the run's node network (the peer of the pod's connection is a client node on it)${plan.network ? `; this ${env.backend} node has no address on it` : ''}`, durations: { totalMs: 0 } };
      const commands: string[] = [];
      const peer = new CriPeer({ network: plan.network, guard: plan.natives.guard, peerBinary: plan.natives.workloads[EXTERNAL_TCP_WORKLOAD]!, hostDir: join(pool.hostWorkDir, 'cri-peer'), nodeDir: `${c.dir}/peer` }, (l) => commands.push(l));
      external = { peer, said: 'not run' };
      try {
        await peer.open(env, [env], t.readyMs);
      } catch (e) {
        external.said = `ERROR: ${(e as Error).message}`;
        return { status: 'ERROR', reason: `harness: ${(e as Error).message}`, durations: { totalMs: 0 }, commands };
      }
      const r = await checkpointCell(c, EXTERNAL_TCP_WORKLOAD, { ...peer.extras, beforeCheckpoint: async (pod) => peer.cutOff(env, await c.pods.podAddress(pod)) });
      await env.remove(`${c.dir}/archive-check`);
      if (r.archive) external.archive = r.archive;
      external.said = `${r.draft.status}: ${r.draft.reason}`;
      return { ...r.draft, commands: [...commands, ...(r.draft.commands ?? [])] };
    });
    cell('restore/tcp-external', EXTERNAL_TCP_WORKLOAD, async (c) => {
      const x = external;
      if (!x?.archive) {
        await x?.peer.close();
        const cp = x?.said ?? 'not run';
        if (cp.startsWith('SKIP')) return { status: 'SKIP', reason: `${cp.slice(6)}: nothing to restore`, durations: { totalMs: 0 } };
        if (!x) return { status: 'SKIP', reason: 'capability missing: the run\'s node network (no checkpoint was taken)', durations: { totalMs: 0 } };
        return { status: 'ERROR', reason: `no checkpoint archive to restore (its checkpoint cell: ${cp.slice(0, 300)})`, durations: { totalMs: 0 } };
      }
      try {
        let r = await restoreCell(c, EXTERNAL_TCP_WORKLOAD, x.archive, x.peer.extras.mounts);
        const peerSaid = r.status === 'PASS' ? await x.peer.peerFailure() : undefined;
        if (peerSaid) r = { ...r, status: 'FAIL', reason: `the restored workload verified itself, but its peer on the client node says: ${peerSaid}` };
        if (r.status !== 'PASS' && r.diagnoses?.some((d) => d.id === 'tcp-address-missing')) r = { ...r, reason: `${r.reason} (the connection's end was bound to the checkpointed pod's address ${x.peer.podAddress}; the CNI gave the restored pod a new one, and CRI has no way to ask for the old)` };
        return { ...r, workloadOutput: [...(r.workloadOutput ?? []), ...(await x.peer.peerLines()).map((l) => `peer: ${l}`)] };
      } finally {
        await x.peer.close();
        await c.pods.o.env.remove(x.archive);
      }
    });
    // Migration through CRI: a checkpoint of the counter on this node restored on a second node of the pool (its own
    // containerd, registry and pods), the archive carried by the host as an operator would copy it.
    cell('restore/other-node', 'counter', async (c) => {
      // A VM pool's sessions are one machine (one kernel, one network namespace): a second containerd there is no other node.
      if (!c.pods.o.env.hostPath)
        return { status: 'SKIP', reason: `capability missing: a second node of this ${c.pods.o.env.backend} pool (its sessions share one machine; a restore on another pool is the migration matrix's)`, durations: { totalMs: 0 } };
      const cp = await checkpointCell(c, 'counter');
      await c.pods.o.env.remove(`${c.dir}/archive-check`);
      if (!cp.archive) return cp.draft.status === 'SKIP' ? { ...cp.draft, reason: `${cp.draft.reason}: nothing to restore` } : { status: 'ERROR', reason: `no checkpoint to carry: ${cp.draft.reason}`, durations: cp.draft.durations };
      const p = await bringUpPeer();
      if (p.error || !p.pods) return { status: 'ERROR', reason: p.error ?? 'no second node', durations: { totalMs: 0 } };
      const dir = `${p.env.workDir}/cells/restore-other-node`;
      await p.env.makeDir(dir);
      const there = `${dir}/checkpoint-counter.tar`;
      const t0 = Date.now();
      await copyFile(c.pods.o.env.hostPath!(cp.archive), p.env.hostPath!(there));
      const transferMs = Date.now() - t0;
      await c.pods.o.env.remove(cp.archive);
      try {
        const r = await restoreCell({ pods: p.pods, dir, timeoutMs: t.criuMs, version: p.pods.node.version }, 'counter', there);
        return { ...r, reason: r.status === 'PASS' ? `checkpointed on one node, restored on another: ${r.reason}` : r.reason, metrics: { ...(cp.draft.metrics ?? {}), migration: { transferMs, transferBytes: cp.draft.metrics?.archiveBytes ?? 0 } } };
      } finally {
        await p.env.remove(there);
      }
    });
  });
});
