import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { EnvironmentError } from '../../errors.ts';
import { mkdirPrivate } from '../../util/fs.ts';
import type { ContainerEngine } from './engine.ts';
import { CGROUP_PARENT } from '../../runtimes/oci-bundle.ts';

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
  /** Host path of the agent's socket: QemuEnvironment.open({ socket, backend: 'container' }) talks to it. */
  socket: string;
  containerId: string;
  dispose(): Promise<void>;
}

/** The file-descriptor limit this process has: containers get exactly that (asking for more needs CAP_SYS_RESOURCE). */
async function ownNofile(): Promise<{ soft: number; hard: number }> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limits);
  return m ? { soft: Number(m[1]), hard: Number(m[2]) } : { soft: 1024, hard: 4096 };
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
      .withUlimits({ nofile: await ownNofile() })
      .withBindMounts([{ source: o.engine.enginePath(o.hostDir), target: '/cc', mode: 'rw' }])
      .withTmpFs({ '/run': 'rw,mode=0755', '/tmp': 'rw,mode=1777' })
      .withCommand(['/cc/cc-agent', '--listen', '/cc/agent.sock'])
      .withStartupTimeout(o.timeoutMs)
      .start();
  } catch (e) {
    throw new EnvironmentError(`starting node container ${o.name} (${o.image}) through ${o.engine.description} failed: ${(e as Error).message}`);
  }
  const deadline = performance.now() + o.timeoutMs;
  const { access } = await import('node:fs/promises');
  while (!(await access(socket).then(() => true, () => false))) {
    if (performance.now() > deadline) {
      const logs = await started.logs().then((s) => new Promise<string>((res) => { let t = ''; s.on('data', (d: Buffer) => (t += d.toString())); setTimeout(() => res(t), 300); }), () => '');
      await started.stop({ timeout: 0 }).catch(() => undefined);
      throw new EnvironmentError(`node container ${o.name}: the agent did not listen on /cc/agent.sock within ${o.timeoutMs} ms${logs ? `: ${logs.trim().slice(-300)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    socket,
    containerId: started.getId(),
    dispose: async () => {
      await started.stop({ timeout: 0, remove: true, removeVolumes: true }).catch(() => undefined);
    },
  };
}
