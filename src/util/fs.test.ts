import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
