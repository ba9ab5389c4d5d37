import { access, copyFile, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { EnvironmentError } from '../../errors.ts';
import { mkdirPrivate } from '../../util/fs.ts';
import { waitUntil } from '../../util/wait-until.ts';
import type { ContainerEngine } from './engine.ts';
import { CGROUP_PARENT } from '../cgroup-parent.ts';

/** The node image as testcontainers starts it: the engine's init off, our agent is PID 1 and reaps. */
class NodeImageContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    // Our agent reaps orphans itself; a second init would only add a process to every checkpointed tree's view.
    this.hostConfig.Init = false;
    // Under the harness's cgroup parent, which every run sweeps when empty (the engine's default parent would stay behind).
    this.hostConfig.CgroupParent = `/${CGROUP_PARENT}/node-containers`;
  }
}

export interface NodeContainer {
  /** Host path of the agent's socket: AgentEnvironment.open({ socket, backend: 'container' }) talks to it. */
  socket: string;
  containerId: string;
  /** The host PID of the container's init (the agent): its network namespace is the node's. Needs an engine on this machine. */
  hostPid(): Promise<number>;
  dispose(): Promise<void>;
}

/**
 * The open-file and process limits this process has: the container gets
 * exactly those. Engines otherwise raise them (podman to its defaults), and
 * raising a limit needs CAP_SYS_RESOURCE, which this machine kind withholds.
 */
async function ownLimits(): Promise<Record<string, { soft: number; hard: number }>> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const out: Record<string, { soft: number; hard: number }> = {};
  for (const [key, label] of [
    ['nofile', 'Max open files'],
    ['nproc', 'Max processes'],
  ] as const) {
    const m = new RegExp(`^${label}\\s+(\\d+|unlimited)\\s+(\\d+|unlimited)`, 'm').exec(limits);
    const n = (v: string) => (v === 'unlimited' ? -1 : Number(v));
    if (m) out[key] = { soft: n(m[1]!), hard: n(m[2]!) };
  }
  // More processes than PIDs exist is meaningless, and engines cap their own limit there (podman 4 does): ask for no more.
  const pidMax = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8').catch(() => '')).trim());
  const np = out.nproc;
  if (np && pidMax > 0) out.nproc = { soft: np.soft < 0 ? pidMax : Math.min(np.soft, pidMax), hard: np.hard < 0 ? pidMax : Math.min(np.hard, pidMax) };
  return out;
}

/**
 * Starts a node image as a privileged container through the engine's Docker
 * API with testcontainers: the node's user space on this machine's kernel,
 * as a node would run a privileged agent pod. The container's command is our
 * static agent (cc-agent --listen) in a host directory bind-mounted at /cc;
 * /run is a tmpfs (checkpoint images stay in the container's memory and die
 * with it); no network but loopback; the open-file limit of the harness.
 */
export async function startNodeContainer(o: { engine: ContainerEngine; image: string; name: string; agent: string; hostDir: string; timeoutMs: number }): Promise<NodeContainer> {
  process.env.DOCKER_HOST = o.engine.dockerHost;
  // Ryuk (testcontainers' reaper) would be pulled from a registry: none is reachable, and the harness removes its own containers.
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  await mkdirPrivate(o.hostDir);
  await copyFile(o.agent, join(o.hostDir, 'cc-agent'));
  const socket = join(o.hostDir, 'agent.sock');
  let started: StartedTestContainer;
  try {
    started = await new NodeImageContainer(o.image)
      .withName(o.name)
      .withLabels({ 'io.criu-compat.run': String(process.pid) })
      .withPrivilegedMode()
      .withNetworkMode('none')
      .withUlimits(await ownLimits())
      .withBindMounts([{ source: o.engine.enginePath(o.hostDir), target: '/cc', mode: 'rw' }])
      .withTmpFs({ '/run': 'rw,mode=0755', '/tmp': 'rw,mode=1777' })
      .withCommand(['/cc/cc-agent', '--listen', '/cc/agent.sock'])
      .withStartupTimeout(o.timeoutMs)
      .start();
  } catch (e) {
    throw new EnvironmentError(`starting node container ${o.name} (${o.image}) through ${o.engine.description} failed: ${(e as Error).message}`, { cause: e });
  }
  await waitUntil(() => access(socket).then(() => true, () => undefined), {
    intervalMs: 20,
    timeoutMs: o.timeoutMs,
    // Nothing else may hold the process open meanwhile (an engine someone else runs is only a socket path).
    ref: true,
    timeout: async () => {
      const logs = await started.logs().then((s) => new Promise<string>((res) => { let t = ''; s.on('data', (d: Buffer) => (t += d.toString())); setTimeout(() => res(t), 300); }), () => '');
      await started.stop({ timeout: 0 }).catch(() => undefined);
      return new EnvironmentError(`node container ${o.name}: the agent did not listen on /cc/agent.sock within ${o.timeoutMs} ms${logs ? `: ${logs.trim().slice(-300)}` : ''}`);
    },
  });
  return {
    socket,
    containerId: started.getId(),
    hostPid: () => agentHostPid(socket, o.name),
    dispose: async () => {
      await started.stop({ timeout: 0, remove: true, removeVolumes: true }).catch(() => undefined);
    },
  };
}

/**
 * The host PID of the agent serving SOCKET: the cc-agent --listen process
 * whose /cc/agent.sock is that very file (same device and inode), so it
 * works whatever PID namespace the engine runs its containers in.
 */
async function agentHostPid(socket: string, name: string): Promise<number> {
  const want = await stat(socket);
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.startsWith('/cc/cc-agent\0--listen\0')) continue;
    const st = await stat(`/proc/${pid}/root/cc/agent.sock`).catch(() => undefined);
    if (st && st.dev === want.dev && st.ino === want.ino) return Number(pid);
  }
  throw new EnvironmentError(`node container ${name}: no process on this machine serves ${socket} (the engine runs elsewhere? the node network needs a local engine)`);
}
