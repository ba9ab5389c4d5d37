import type { Environment } from '../../environments/environment.ts';
import { shq } from '../container-runtime.ts';
import { cniConfList, containerdConfig, containerdLayout, parseContainerdVersion, registryHosts, REGISTRY, criuConfig, type ContainerdLayout } from './containerd-config.ts';

/** containerd did not come up in the node (no binary, a bad config, no socket in time). */
export class ContainerdStartError extends Error {
  override readonly name = 'ContainerdStartError';
}

/** A containerd running inside one environment, with its layout and what it is. */
export interface ContainerdNode {
  env: Environment;
  layout: ContainerdLayout;
  /** "1.7.24", "2.1.9". */
  version: string;
  major: number;
  snapshotter: string;
  /** Its PID inside the environment. */
  pid: number;
}

export interface StartOptions {
  /** The directory for all of containerd's state (inside the environment's work directory). */
  dir: string;
  /** How long containerd may take until its socket answers. */
  timeoutMs: number;
  commandTimeoutMs: number;
  /** Extra environment for containerd, which its shims, runc and CRIU inherit (the pool's criu.env). */
  env?: Record<string, string>;
  /** Also serve CRI on this TCP address (a VM node, reached over the run's network). */
  tcpAddress?: string;
}

/** The node's containerd version, or null when the node image has none. */
export async function containerdVersion(env: Environment, timeoutMs: number): Promise<string | null> {
  const r = await env.exec(['sh', '-c', 'containerd --version 2>&1'], { timeoutMs });
  return r.exitCode === 0 ? (parseContainerdVersion(r.stdout) ?? null) : null;
}

/**
 * overlayfs when the node can mount it on its work directory (the kubelet's
 * usual snapshotter), else native (a copy per container, works on any fs).
 */
async function pickSnapshotter(env: Environment, dir: string, timeoutMs: number): Promise<string> {
  const t = `${dir}/ovl-probe`;
  const r = await env.exec(['sh', '-c', `mkdir -p ${t}/l ${t}/u ${t}/w ${t}/m && mount -t overlay overlay -o lowerdir=${t}/l,upperdir=${t}/u,workdir=${t}/w ${t}/m && umount ${t}/m; s=$?; rm -rf ${t}; exit $s`], { timeoutMs });
  return r.exitCode === 0 ? 'overlayfs' : 'native';
}

/** Writes containerd's config and CNI network into DIR and starts it; resolves once its socket answers. */
export async function startContainerd(env: Environment, o: StartOptions): Promise<ContainerdNode> {
  const version = await containerdVersion(env, o.commandTimeoutMs);
  if (!version) throw new ContainerdStartError('containerd is not installed in this node image (containerd --version failed)');
  const major = Number(version.split('.')[0]);
  const layout = containerdLayout(o.dir);
  for (const d of [layout.dir, layout.root, layout.state, layout.cniConf, layout.ipam, layout.logs]) await env.makeDir(d);
  const snapshotter = await pickSnapshotter(env, o.dir, o.commandTimeoutMs);
  // libcni caches results under /var/lib/cni (no setting for it in the CRI plugin): a read-only node image gets a
  // writable copy of its /var/lib (a few MB) bound over it, in this node's own mount namespace only.
  const varLib = `${o.dir}/var-lib`;
  const w = await env.exec(['sh', '-c', `if touch /var/lib/.cc-w 2>/dev/null; then rm -f /var/lib/.cc-w; else mkdir -p ${varLib} && cp -a /var/lib/. ${varLib}/ && mount --bind ${varLib} /var/lib; fi && mkdir -p /var/lib/cni`], { timeoutMs: o.commandTimeoutMs });
  if (w.exitCode !== 0) throw new ContainerdStartError(`cannot make /var/lib/cni writable in the node (libcni's cache): ${w.stderr.trim()}`);
  await env.writeFile(layout.config, containerdConfig({ major, layout, snapshotter, ...(o.tcpAddress ? { tcpAddress: o.tcpAddress } : {}) }));
  await env.writeFile(`${layout.cniConf}/10-cc-pods.conflist`, cniConfList(layout));
  await env.writeFile(layout.criuConfig, criuConfig(layout));
  await env.makeDir(`${layout.certsD}/${REGISTRY}`);
  await env.writeFile(`${layout.certsD}/${REGISTRY}/hosts.toml`, registryHosts());
  const pid = await env.spawnDetached(['containerd', '--config', layout.config, '--log-level', 'info'], { outFile: layout.log, ...(o.env ? { env: o.env } : {}) });
  const node: ContainerdNode = { env, layout, version, major, snapshotter, pid };
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const r = await env.exec(['ctr', '--address', layout.socket, '--timeout', '2s', 'version'], { timeoutMs: 5_000 });
    if (r.exitCode === 0) return node;
    if (!(await env.isRunning(pid)) || Date.now() > deadline) {
      const log = (await env.readFile(layout.log).catch(() => Buffer.alloc(0))).toString('utf8');
      const why = log.split('\n').filter((l) => /level=(error|fatal)|failed|panic/i.test(l)).slice(-3).join(' | ');
      await stopContainerd(node, o.commandTimeoutMs).catch(() => undefined);
      throw new ContainerdStartError(
        `containerd ${version} ${(await env.isRunning(pid)) ? `did not answer on ${layout.socket} within ${Math.round(o.timeoutMs / 1000)} s` : 'exited at start'}${why ? `: ${why.slice(0, 400)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Imports an OCI archive (a path inside the node) into the CRI's namespace, unpacked for its snapshotter. */
export async function importImage(node: ContainerdNode, archive: string, timeoutMs: number) {
  return node.env.exec(['ctr', '--address', node.layout.socket, '-n', 'k8s.io', 'images', 'import', '--snapshotter', node.snapshotter, '--no-unpack=false', archive], { timeoutMs });
}

/**
 * A loop over the node's processes matched by executable (not command line,
 * which the loop's own shell would match): containerd, its shims, the pause
 * binary, the node's registry and the workloads under /cc; the case body follows.
 */
const EACH_PROCESS = `for p in /proc/[0-9]*; do e=$(readlink $p/exe 2>/dev/null); case "$e" in */containerd|*/containerd-shim*|*/cc-pause|*/cc-registry|/cc/*)`;

/** The processes, mounts, network namespaces and CNI interfaces a node's containerd may leave: one line each (empty: nothing). */
export const LEFTOVERS_SCRIPT = (dir: string) =>
  [
    `${EACH_PROCESS} echo "process ${'$'}{p#/proc/}: $e";; esac; done`,
    `grep -F ${shq(dir)} /proc/self/mountinfo | awk '{print "mount " $5}'`,
    `grep -F ' /var/lib ' /proc/self/mountinfo | grep -F ${shq(dir)} | awk '{print "mount " $5}'`,
    `grep -E ' /run/netns/| /var/run/netns/' /proc/self/mountinfo | awk '{print "netns " $5}'`,
    `ls /sys/class/net | grep -E '^(cc-cni0|veth)' | sed 's/^/interface /'`,
    'true',
  ].join('; ');

/** What is left of the node's containerd (processes, mounts, netns, CNI interfaces), one line each. */
export async function leftovers(node: ContainerdNode, timeoutMs: number): Promise<string[]> {
  const r = await node.env.exec(['sh', '-c', LEFTOVERS_SCRIPT(node.layout.dir)], { timeoutMs });
  return r.stdout.split('\n').filter((l) => l.trim());
}

/**
 * Stops containerd and everything it started: SIGTERM (SIGKILL after 10 s),
 * then every shim and container process left (a shim outlives containerd by
 * design), their mounts under the layout's directory, the pods' network
 * namespaces and the CNI bridge. Returns what was still there afterwards.
 */
export async function stopContainerd(node: ContainerdNode, timeoutMs: number): Promise<string[]> {
  const d = shq(node.layout.dir);
  const script = [
    `kill -TERM ${node.pid} 2>/dev/null; i=0; while kill -0 ${node.pid} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill -KILL ${node.pid} 2>/dev/null`,
    // Shims, pause and workloads: everything whose command line names containerd, the pause binary or a workload.
    `${EACH_PROCESS} kill -KILL ${'$'}{p#/proc/} 2>/dev/null;; esac; done; sleep 0.3`,
    `grep -F ${d} /proc/self/mountinfo | awk '{print $5}' | sort -r | while read m; do umount -l "$m" 2>/dev/null; done`,
    `for n in /run/netns/*; do [ -e "$n" ] || continue; umount "$n" 2>/dev/null; rm -f "$n"; done`,
    'ip link del cc-cni0 2>/dev/null',
    `grep -qF ' /var/lib ' /proc/self/mountinfo && grep -F ' /var/lib ' /proc/self/mountinfo | grep -qF ${d} && umount /var/lib`,
    'true',
  ].join('; ');
  await node.env.exec(['sh', '-c', script], { timeoutMs: Math.max(timeoutMs, 20_000) });
  return leftovers(node, timeoutMs);
}
