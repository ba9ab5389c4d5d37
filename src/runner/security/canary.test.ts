import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { CANARY_LOCATIONS, CanarySeedError, canarySeed, canaryTokens, tokensIn } from './canary.ts';
import { scanTree } from './secret-in-image.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-canary-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('one distinct token per place, from the seed alone; a short seed is refused', () => {
  const a = canaryTokens(Buffer.alloc(32, 1));
  expect(Object.keys(a)).toEqual([...CANARY_LOCATIONS]);
  expect(new Set(Object.values(a)).size).toBe(CANARY_LOCATIONS.length);
  for (const t of Object.values(a)) expect(t).toMatch(/^cc[0-9a-f]{40}$/);
  expect(canaryTokens(Buffer.alloc(32, 1))).toEqual(a);
  expect(canaryTokens(Buffer.alloc(32, 2)).heap).not.toBe(a.heap);
  expect(() => canaryTokens(Buffer.alloc(8))).toThrow(CanarySeedError);
});

test('the seed: random per call, or a root-only file; a file others can read is refused', () => {
  expect(canarySeed({}).equals(canarySeed({}))).toBe(false);
  const good = join(dir, 'good');
  writeFileSync(good, Buffer.alloc(32, 7), { mode: 0o600 });
  expect(canarySeed({ CRIU_COMPAT_CANARY_FILE: good })).toEqual(Buffer.alloc(32, 7));
  const bad = join(dir, 'bad');
  writeFileSync(bad, Buffer.alloc(32, 7), { mode: 0o640 });
  expect(() => canarySeed({ CRIU_COMPAT_CANARY_FILE: bad })).toThrow(/mode 640.*chmod 600/);
  const theirs = join(dir, 'theirs');
  writeFileSync(theirs, Buffer.alloc(32, 7), { mode: 0o600 });
  chownSync(theirs, process.getuid!() + 1000, 0);
  expect(() => canarySeed({ CRIU_COMPAT_CANARY_FILE: theirs })).toThrow(/owned by uid \d+.*chown it/);
});

test('the scan finds each token anywhere in any file (page boundaries, nested directories) and names the file', async () => {
  const c = canaryTokens(Buffer.alloc(32, 3));
  const img = join(dir, 'img');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(img, 'sub'), { recursive: true });
  const page = Buffer.alloc(8192, 0);
  page.write(c.heap, 4096 - 10, 'latin1'); // across a page boundary
  writeFileSync(join(img, 'pages-1.img'), page);
  writeFileSync(join(img, 'sub', 'ghost-file-1.img'), Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(c.deletedFile)]));
  writeFileSync(join(img, 'core-1.img'), Buffer.from(c.environ.slice(0, 20))); // a prefix is not the token
  const r = await scanTree(img, c);
  expect(r.files).toBe(3);
  expect(r.findings).toEqual({ environ: [], heap: ['pages-1.img'], filePrivate: [], fileShared: [], deletedFile: ['sub/ghost-file-1.img'] });
  expect(tokensIn(Buffer.from(`x${c.filePrivate}${c.fileShared}`), c)).toEqual(['filePrivate', 'fileShared']);
});
