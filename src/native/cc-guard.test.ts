import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PROJECT_ROOT } from '../runner/provision.ts';
import { buildStatic } from './build-static.ts';

let dir = '';
let guard = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cc-guard-'));
  guard = await buildStatic('cc-guard', join(PROJECT_ROOT, 'src/native/cc-guard.c'), [], dir);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Alive: in the process table and not a zombie waiting for its new parent to reap it. */
function alive(pid: number): boolean {
  try {
    const state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (!alive(pid)) return true;
  return !alive(pid);
}

test('cc-guard: what it runs dies with the parent that started it; without it, the orphan lives on', async () => {
  // A shell starts both in the background, waits until the guarded one runs sleep (cc-guard has set its
  // parent-death signal by then) and exits: each is orphaned.
  const script = `"$1" -- sleep 30 >/dev/null 2>&1 & g=$!; sleep 30 >/dev/null 2>&1 & b=$!
    while [ "$(cat /proc/$g/comm)" != sleep ]; do sleep 0.01; done; echo $g; echo $b`;
  const out = execFileSync('sh', ['-c', script, 'sh', guard], { encoding: 'utf8' });
  const [guarded, bare] = out.trim().split('\n').map(Number) as [number, number];
  try {
    expect(await gone(guarded, 5000)).toBe(true);
    expect(alive(bare)).toBe(true);
  } finally {
    for (const pid of [guarded, bare]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
});

test('cc-guard: exec in place (same PID, same exit status); 2 for a bad command line, 127 for a command that cannot run', () => {
  const same = spawnSync(guard, ['--', 'sh', '-c', 'echo $$; exit 7'], { encoding: 'utf8' });
  expect(same.status).toBe(7);
  expect(Number(same.stdout.trim())).toBe(same.pid);
  const usage = spawnSync(guard, ['sleep', '1'], { encoding: 'utf8' });
  expect(usage.status).toBe(2);
  expect(usage.stderr).toBe('usage: cc-guard -- ARGV...\n');
  const missing = spawnSync(guard, ['--', '/nonexistent/qemu'], { encoding: 'utf8' });
  expect(missing.status).toBe(127);
  expect(missing.stderr).toBe('cc-guard: exec /nonexistent/qemu: No such file or directory\n');
});
