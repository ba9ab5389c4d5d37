import type { Environment } from '../environments/environment.ts';
import { EnvironmentError } from '../errors.ts';

/*
 * Where a migrated tree's PIDs land: CRIU restores every task with the PID
 * it had, so the source's PIDs must be free on the destination (used by the
 * migration matrix and by pilot migrations).
 */

/** Are COUNT PIDs from FROM free on the node (no process, no zombie)? Read from the host where the node allows it, else one command. */
export async function pidsFree(env: Environment, from: number, count: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (env.hostPath && env.pidInUse) {
    for (let p = from; p < from + count; p++) if (await env.pidInUse(p)) return false;
    return true;
  }
  const r = await env.exec(['sh', '-c', 'for p in $(seq "$1" "$2"); do [ -e /proc/$p ] && exit 1; done; exit 0', 'pids-free', String(from), String(from + count - 1)], { timeoutMs: 10_000, signal });
  return r.exitCode === 0;
}

/** Moves the node's next PID past FLOOR (never back): what runs there next cannot take a PID a restore needs. */
export async function nextPidsAbove(env: Environment, floor: number, signal: AbortSignal | undefined): Promise<void> {
  const r = await env.exec(['sh', '-c', 'l=$(cat /proc/sys/kernel/ns_last_pid); [ "$l" -ge "$1" ] || echo "$1" > /proc/sys/kernel/ns_last_pid', 'next-pids-above', String(floor)], { timeoutMs: 10_000, signal });
  if (r.exitCode !== 0) throw new EnvironmentError(`environment ${env.id}: cannot move the next PID past ${floor} (/proc/sys/kernel/ns_last_pid): ${r.stderr.trim()}`);
}

/**
 * CRIU restores every task with its PID. A workload that got a low PID in a
 * namespace node finds it taken on a VM (by a kernel thread or the agent):
 * the harness starts it again where the PIDs are free on both nodes, as an
 * operator restores into a fresh PID namespace. The source's next PID is set
 * to a random number between 10000 and 30000 (below every pid_max) whose
 * range is free on the destination.
 */
export async function placePids(src: Environment, dst: Environment, signal: AbortSignal | undefined, count = 64): Promise<void> {
  for (let tries = 0; tries < 20; tries++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    if (!(await pidsFree(dst, base + 1, count, signal))) continue;
    // The source's kernel skips PIDs in use there by itself.
    const r = await src.exec(['sh', '-c', 'echo "$1" > /proc/sys/kernel/ns_last_pid', 'set-last-pid', String(base)], { timeoutMs: 10_000, signal });
    if (r.exitCode !== 0) throw new EnvironmentError(`environment ${src.id}: cannot set the next PID (/proc/sys/kernel/ns_last_pid): ${r.stderr.trim()}`);
    return;
  }
  throw new EnvironmentError(`no free PID range found on ${dst.id} in 20 tries`);
}
