/**
 * The namespace environment's host-side shortcuts, for real: a signal to a
 * workload goes from the host straight to the process the PID inside names
 * (through the init's children and their NSpid), a deeper process is
 * signalled from inside, and a PID that names nothing says so.
 */
import { chmodSync, readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { tempDir } from './harness.ts';

let env: NamespaceEnvironment;

beforeAll(async () => {
  const cacheDir = defaultCacheDir();
  const natives = await buildNatives(cacheDir, ['counter']);
  const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  const work = tempDir('criu-compat-ns-');
  chmodSync(work, 0o700);
  env = await NamespaceEnvironment.start({ id: 'ns-signal', rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 30_000 });
}, 900_000);

afterAll(async () => {
  await env?.dispose();
});

describe('namespace environment: signals', () => {
  test('a detached process (a child of the init) is signalled from the host', async () => {
    const pid = await env.spawnDetached(['sleep', '60'], { outFile: `${env.workDir}/a.out` });
    expect(await env.isRunning(pid)).toBe(true);
    expect(await env.signal(pid, 'TERM')).toBe(true);
    let gone = false;
    for (let i = 0; i < 200 && !gone; i++) {
      gone = !(await env.isRunning(pid));
      if (!gone) await new Promise((r) => setTimeout(r, 10));
    }
    expect(gone).toBe(true);
  });

  test('a grandchild of the init is signalled from inside; a PID that names nothing gives false', async () => {
    const pid = await env.spawnDetached(['sh', '-c', 'sleep 60 & echo $! > /run/criu-compat/child; wait'], { outFile: `${env.workDir}/b.out` });
    let child = 0;
    for (let i = 0; i < 200 && !child; i++) {
      child = Number((await env.readFile(`${env.workDir}/child`).catch(() => Buffer.from(''))).toString().trim()) || 0;
      if (!child) await new Promise((r) => setTimeout(r, 10));
    }
    expect(child).toBeGreaterThan(pid);
    expect(await env.signal(child, 'KILL')).toBe(true);
    for (let i = 0; i < 200 && (await env.isRunning(pid)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await env.isRunning(pid)).toBe(false); // sh's wait returned: its child is dead
    expect(await env.signal(99999, 'TERM')).toBe(false);
  });
});

describe('cc-ns exec: parse, enter, spawn, wait', () => {
  test('exactly the given environment, the given directory, umask 077, no inherited descriptors; the exit status passed on', async () => {
    const r = await env.exec(['sh', '-c', 'env | sort | tr "\\n" " "; echo; pwd; umask; ls /proc/self/fd | tr "\\n" " "; exit 3'], { timeoutMs: 10_000, cwd: '/tmp', env: { ONLY: 'this' } });
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeUndefined();
    const [vars, cwd, mask, fds] = r.stdout.split('\n');
    expect(vars!.split(' ').filter((v) => v && !v.startsWith('PWD=') && !v.startsWith('SHLVL=') && !v.startsWith('_='))).toEqual(['HOME=/root', 'LANG=C', 'ONLY=this', expect.stringMatching(/^PATH=/)]);
    expect(cwd).toBe('/tmp');
    expect(mask).toBe('0077');
    expect(fds!.trim().split(' ').map(Number).filter((fd) => fd > 2).length).toBe(1); // ls's own directory
  });

  test("an environment value (a secret) reaches the command but never the helper's command line, which any host user can read", async () => {
    const secret = `cc-secret-${process.pid}-${Date.now()}`;
    const seen: string[] = [];
    // While the command runs, read every process's command line as an unprivileged user could (/proc/PID/cmdline is world-readable).
    const running = env.exec(['sh', '-c', 'sleep 0.5; printf %s "$SECRET"'], { timeoutMs: 10_000, env: { SECRET: secret } });
    const t0 = Date.now();
    while (Date.now() - t0 < 400) {
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmd.includes(secret)) seen.push(cmd.replace(/\0/g, ' '));
        } catch {
          // gone
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await running;
    expect(r.stdout).toBe(secret);
    expect(seen).toEqual([]);
  });

  test('a command that cannot start is 127 with the reason; a directory that does not exist too', async () => {
    const missing = await env.exec(['no-such-command'], { timeoutMs: 10_000 });
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toBe('cc-ns exec: no-such-command: No such file or directory\n');
    const nodir = await env.exec(['true'], { timeoutMs: 10_000, cwd: '/no/such/dir' });
    expect(nodir.exitCode).toBe(127);
    expect(nodir.stderr).toBe('cc-ns exec: true: No such file or directory\n');
  });
});
