import { failureStatus } from '../../criu/diagnose.ts';
import { describeFailure } from '../../criu/driver.ts';
import { Workload } from '../../workloads/protocol.ts';
import type { CellDraft } from '../cell.ts';
import type { AttemptContext } from '../round-trip.ts';

/** What a round trip's attempt gets (binary: the sandbox-probe fixture inside the node). */
export type ForensicContext = Pick<AttemptContext, 'env' | 'criu' | 'binary' | 'dir' | 'timeouts' | 'signal'>;

/** Addresses the probe tries to route to: loopback (the control: routable before) and TEST-NET-1, standing for anything outside. */
export const PROBE_ADDRESSES = ['127.0.0.1', '192.0.2.1'];
/** Node-private scratch (tmpfs inside the node, never a host path): the images and the probe's output during the restore. */
const SCRATCH = '/tmp/cc-forensic';

/**
 * The sandbox a forensic restore goes into: a new, empty network namespace
 * (no interface up, no route) and a private mount namespace where each of
 * PATHS is bound onto itself read-only; then criu runs.
 */
export function sandboxPrefix(paths: readonly string[]): string[] {
  // /dev is bound with its sub-mounts (pts, mqueue: a restored tty needs them), read-only at its top only: /dev/shm is bound read-only after it.
  const ordered = [...paths.filter((p) => p !== '/dev/shm'), ...paths.filter((p) => p === '/dev/shm')];
  return ['unshare', '--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'while [ "$1" != -- ]; do if [ "$1" = /dev ]; then b=--rbind; else b=--bind; fi; mount $b "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; shift; done; shift; exec "$@"', 'forensic-sandbox', ...ordered, '--'];
}

/**
 * forensic-restore-sandbox: the sandbox-probe workload runs on the node and
 * proves its probe works there (it can route to loopback and write into the
 * node's work directory, a host directory on a namespace node, and /dev/shm);
 * CRIU dumps it; the images are restored inside the sandbox above; the
 * restored process probes again and must find no route and no writable path.
 * PASS: proved from inside the restored process. FAIL: it could still reach
 * or write something (named). ERROR/FAIL per the diagnosis when the dump or
 * the sandboxed restore fails. The sandbox keeps out routes and writes, not a
 * process that holds CAP_SYS_ADMIN and remounts (a forensic restore should
 * also drop capabilities or use a user namespace: not probed here).
 */
export async function forensicRestoreSandbox(x: ForensicContext): Promise<CellDraft> {
  const { env, dir } = x;
  const t0 = performance.now();
  const commands: string[] = [];
  const paths = [env.workDir];
  // /dev/shm, then /dev itself: on a namespace node both are the host's (/dev is bound in recursively), writable by root.
  for (const p of ['/dev/shm', '/dev']) if ((await env.exec(['test', '-d', p], { timeoutMs: x.timeouts.commandMs })).exitCode === 0) paths.push(p);
  await env.makeDir(`${dir}/img`);
  await env.exec(['sh', '-c', `rm -rf ${SCRATCH} && mkdir -p -m 700 ${SCRATCH}`], { timeoutMs: x.timeouts.commandMs });
  const wl = new Workload(env, 'sandbox-probe', x.binary, `${SCRATCH}/probe.out`, [...PROBE_ADDRESSES, '--', ...paths]);
  wl.abortSignal = x.criu.signal = x.signal;
  const figures = (lines: string[]) => {
    const of = (when: string, what: string) => (lines.find((l) => l.startsWith(`info: ${when}:`))?.match(new RegExp(`${what} \\S+=yes`, 'g')) ?? []).length;
    return { routesBefore: of('before', 'route'), writableBefore: of('before', 'write'), routesAfter: of('after', 'route'), writableAfter: of('after', 'write'), probedPaths: paths.join(' '), probedAddresses: PROBE_ADDRESSES.join(' ') };
  };
  try {
    await wl.start();
    const up = await wl.waitReady(x.timeouts.readyMs);
    if (!up.ok) return { status: 'ERROR', reason: `harness: the sandbox probe ${up.alive ? 'printed no "ready"' : 'exited before it was ready'} (before the dump it must route to loopback and write into ${paths.join(', ')})`, durations: { totalMs: performance.now() - t0 }, workloadOutput: await wl.lines() };
    const dump = await x.criu.dump({ pid: wl.pid, imagesDir: `${dir}/img`, logFile: 'dump.log', verbosity: 4 });
    commands.push(dump.argv.join(' ').replaceAll(`${dir}/`, ''));
    if (!dump.ok) return { status: failureStatus(dump.diagnoses), reason: `nothing proved: ${describeFailure('criu dump', dump, x.timeouts.criuMs)}`, durations: { totalMs: performance.now() - t0, dumpMs: dump.result.durationMs }, diagnoses: dump.diagnoses, logExcerpt: dump.excerpt, commands, workloadOutput: await wl.lines() };
    if (!(await wl.waitGone(2000))) return { status: 'FAIL', reason: 'criu dump exited 0 but the probe still runs', durations: { totalMs: performance.now() - t0 }, commands };
    // The images go to node-private scratch: the sandbox makes the work directory read-only, and CRIU writes its log and stats beside them.
    const cp = await env.exec(['cp', '-a', `${dir}/img`, `${SCRATCH}/img`], { timeoutMs: x.timeouts.commandMs });
    if (cp.exitCode !== 0) return { status: 'ERROR', reason: `harness: cannot copy the images to ${SCRATCH}: ${cp.stderr.trim()}`, durations: { totalMs: performance.now() - t0 } };
    const prefix = sandboxPrefix(paths);
    const restore = await x.criu.restore({ detach: true, imagesDir: `${SCRATCH}/img`, logFile: 'restore.log', verbosity: 4 }, { prefix });
    commands.push(restore.argv.join(' ').replaceAll(`${SCRATCH}/`, ''));
    const durations = { totalMs: performance.now() - t0, dumpMs: dump.result.durationMs, restoreMs: restore.result.durationMs };
    if (!restore.ok) return { status: failureStatus(restore.diagnoses), reason: `the restore into the sandbox failed: ${describeFailure('criu restore', restore, x.timeouts.criuMs)}`, durations, diagnoses: restore.diagnoses, logExcerpt: restore.excerpt, commands, workloadOutput: await wl.lines() };
    const v = await wl.verdict(x.timeouts.verifyMs);
    const lines = await wl.lines();
    const security = figures(lines);
    const base = { durations: { ...durations, totalMs: performance.now() - t0 }, commands, workloadOutput: lines, metrics: { security } };
    if (security.routesBefore === 0 || security.writableBefore !== paths.length) return { ...base, status: 'ERROR', reason: 'harness: before the dump the probe could not route to loopback or write every path: its "after" proves nothing' };
    if (v.status === 'PASS') return { ...base, status: 'PASS', reason: `restored in the sandbox, the process found no route (${PROBE_ADDRESSES.join(', ')}) and no writable path (${paths.join(', ')}); before the dump it had ${security.routesBefore} route(s) and ${security.writableBefore} writable path(s)` };
    const after = lines.find((l) => l.startsWith('info: after:'))?.replace('info: after: ', '') ?? '';
    if (v.status === 'FAIL') return { ...base, status: 'FAIL', reason: `the sandbox leaks: from inside the restored process ${after || v.message} (remedy: restore forensic copies only in a fresh network namespace with no interface, host paths read-only)` };
    return { ...base, status: 'ERROR', reason: `the restored probe gave no verdict within ${x.timeouts.verifyMs} ms (${v.alive ? 'still running' : 'gone'})` };
  } finally {
    if (wl.pid) await wl.kill();
    await env.exec(['rm', '-rf', SCRATCH], { timeoutMs: x.timeouts.commandMs }).catch(() => undefined);
    await env.remove(dir).catch(() => undefined);
  }
}
