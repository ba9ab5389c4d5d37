import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { writeFileAtomic } from './fs.ts';

test('writeFileAtomic: concurrent writers of one file in one process never collide (a clean CI run once broke on this)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-fs-'));
  try {
    const file = join(dir, 'memo.json');
    const bodies = Array.from({ length: 30 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(1000 + i * 37) }));
    await Promise.all(bodies.map((b) => writeFileAtomic(file, b)));
    // Whole content of exactly one writer, and no temp file left.
    expect(bodies).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(dir)).toEqual(['memo.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('withLock: a lock a live process holds is waited for until the deadline, one whose owner died is taken over, an abort stops the wait', async () => {
  const { spawn } = await import('node:child_process');
  const { withLock } = await import('./fs.ts');
  const { InterruptedError } = await import('../errors.ts');
  const dir = mkdtempSync(join(tmpdir(), 'cc-lock-'));
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const lock = join(dir, 'entry.lock');
    writeFileSync(lock, String(holder.pid));
    const started = performance.now();
    await expect(withLock(lock, 600, async () => 'ran')).rejects.toThrow(`${lock} is held by process ${holder.pid} for too long; if that process is gone, remove the file`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(withLock(lock, 60_000, async () => 'ran', ac.signal)).rejects.toThrow(InterruptedError);
    // The holder goes while we wait: the lock is ours within one pause, and gone after.
    const taken = withLock(lock, 60_000, async () => readFileSync(lock, 'utf8'));
    setTimeout(() => holder.kill('SIGKILL'), 300);
    expect(await taken).toBe(String(process.pid));
    expect(readdirSync(dir)).toEqual([]);
  } finally {
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
