import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { EnvironmentError } from '../../errors.ts';
import { mkdirPrivate } from '../../util/fs.ts';
import { waitUntil } from '../../util/wait-until.ts';
import { NamespaceEnvironment } from '../namespace/namespace-environment.ts';
import { podmanCommand } from '../podman-command.ts';

/**
 * A Docker-API engine for the container backend. Where DOCKER_HOST names a
 * unix socket (Docker on a laptop or CI runner, or a podman service someone
 * runs), that one is used as it is. Otherwise the harness starts podman's
 * Docker-compatible service itself: podman from a node image that has it
 * (debian-trixie-containers), inside a namespace environment of its own
 * (PID namespace: when the environment goes, every container and conmon of
 * that service goes with it, even if the harness is killed), its storage
 * and socket in a private directory of the run, stopped at the end.
 */
export interface ContainerEngine {
  /** unix:///… for testcontainers and the API calls. */
  dockerHost: string;
  socketPath: string;
  /** "podman 5.4.2 (Docker API, started by criu-compat)" or "Docker 28.2.2 (DOCKER_HOST)". */
  description: string;
  /** A host path as the engine sees it (bind-mount sources). */
  enginePath(hostPath: string): string;
  dispose(): Promise<void>;
}

const INSIDE = '/run/criu-compat';

export interface StartEngineOptions {
  /** Host directory (0700) for the service's storage and socket (when the harness starts one). */
  hostDir: string;
  /** A node image rootfs with podman in it. */
  engineRootfs: string;
  helper: string;
  timeoutMs: number;
}

export async function startEngine(o: StartEngineOptions): Promise<ContainerEngine> {
  const given = process.env.DOCKER_HOST;
  if (given) {
    if (!given.startsWith('unix://')) throw new EnvironmentError(`DOCKER_HOST=${given}: the container backend needs a local unix socket (it bind-mounts a host directory into the node container)`);
    const socketPath = given.slice('unix://'.length);
    const v = await api(socketPath, 'GET', '/version', o.timeoutMs).catch((e: Error) => {
      throw new EnvironmentError(`DOCKER_HOST=${given}: no Docker API answers there (${e.message})`, { cause: e });
    });
    const info = JSON.parse(v.body) as { Version?: string; Components?: { Name: string; Version: string }[] };
    const name = info.Components?.[0]?.Name ?? 'Docker Engine';
    return { dockerHost: given, socketPath, description: `${name} ${info.Version ?? '?'} (DOCKER_HOST)`, enginePath: (p) => p, dispose: async () => undefined };
  }
  await mkdirPrivate(o.hostDir);
  const env = await NamespaceEnvironment.start({ id: 'container-engine', rootfs: o.engineRootfs, hostWorkDir: o.hostDir, helper: o.helper, timeoutMs: o.timeoutMs });
  try {
    for (const d of ['tmp', 'net']) await env.makeDir(`${INSIDE}/${d}`);
    const argv = [...podmanCommand(INSIDE, 'overlay', 'runc'), 'system', 'service', '--time', '0', `unix://${INSIDE}/engine.sock`];
    const which = await env.exec(['sh', '-c', 'command -v podman && command -v runc'], { timeoutMs: o.timeoutMs });
    if (which.exitCode !== 0) throw new EnvironmentError(`the engine image has no podman and runc (${o.engineRootfs}); use debian-trixie-containers, or set DOCKER_HOST to a Docker API socket`);
    await env.spawnDetached(argv, { outFile: `${INSIDE}/service.log`, env: { TMPDIR: `${INSIDE}/tmp`, PODMAN_IGNORE_CGROUPSV1_WARNING: '1' } });
    const socketPath = join(o.hostDir, 'engine.sock');
    const version = await waitUntil(
      async () => {
        const r = await api(socketPath, 'GET', '/version', 2000).catch(() => undefined);
        return r?.status === 200 ? ((JSON.parse(r.body) as { Version?: string }).Version ?? '?') : undefined;
      },
      {
        intervalMs: 100,
        timeoutMs: o.timeoutMs,
        timeout: async () => {
          const log = (await env.readFile(`${INSIDE}/service.log`).catch(() => Buffer.alloc(0))).toString('utf8').trim().split('\n').slice(-3).join(' | ');
          return new EnvironmentError(`podman system service did not answer on ${socketPath} within ${o.timeoutMs} ms${log ? `: ${log}` : ''}`);
        },
      },
    );
    return {
      dockerHost: `unix://${socketPath}`,
      socketPath,
      description: `podman ${version} (Docker API, started by criu-compat)`,
      enginePath: (p) => {
        const rel = relative(o.hostDir, resolve(p));
        if (rel.startsWith('..')) throw new EnvironmentError(`${p} is outside the engine's directory ${o.hostDir}`);
        return rel ? `${INSIDE}/${rel}` : INSIDE;
      },
      dispose: () => env.dispose(),
    };
  } catch (e) {
    await env.dispose();
    throw e;
  }
}

/** One Docker API call over a unix socket. body: a stream to upload (an image tarball). */
export function api(socketPath: string, method: string, path: string, timeoutMs: number, body?: NodeJS.ReadableStream, contentType = 'application/x-tar'): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath, method, path, headers: body ? { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' } : {}, timeout: timeoutMs }, (r) => {
      let data = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (data += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: data }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', rej);
    if (body) body.pipe(req);
    else req.end();
  });
}

/**
 * Makes a node image's rootfs an engine image (`docker import` through the
 * API), once per image key and engine. Returns the image name.
 */
export async function ensureEngineImage(engine: ContainerEngine, name: string, key: string, rootfs: string, timeoutMs: number): Promise<string> {
  // Fully qualified ("localhost/"): Docker and every podman version then agree on the name, no short-name resolution.
  const repo = `localhost/criu-compat-node/${name}`;
  const tag = key.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64) || 'latest';
  const ref = `${repo}:${tag}`;
  const have = await api(engine.socketPath, 'GET', `/images/${encodeURIComponent(ref)}/json`, 10_000);
  if (have.status === 200) return ref;
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // The tag goes inside repo (the API allows it): podman 4 ignores a separate tag parameter on import.
  const r = await api(engine.socketPath, 'POST', `/images/create?fromSrc=-&repo=${encodeURIComponent(ref)}`, timeoutMs, tar.stdout);
  const code = await new Promise<number | null>((res) => (tar.exitCode !== null ? res(tar.exitCode) : tar.once('exit', res)));
  if (r.status !== 200 || code !== 0 || /"error"/i.test(r.body)) throw new EnvironmentError(`importing node image ${name} into the container engine failed (HTTP ${r.status}, tar exit ${code}): ${(err + r.body).trim().slice(-300)}`);
  if ((await api(engine.socketPath, 'GET', `/images/${encodeURIComponent(ref)}/json`, 10_000)).status !== 200) {
    const id = /sha256:[0-9a-f]{64}/.exec(r.body)?.[0];
    const t = id ? await api(engine.socketPath, 'POST', `/images/${id}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`, 10_000) : undefined;
    if (!t || t.status >= 300) throw new EnvironmentError(`node image ${name} was imported but the engine does not know it as ${ref} (${r.body.trim().slice(-200)})`);
  }
  return ref;
}
