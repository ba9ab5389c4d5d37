import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { fields } from '../../src/criu/protobuf.ts';
import { TamperError, encodeFields, recordedRegFiles, tamperPages, tamperRegFileSize } from '../e2e/tamper.ts';

// files.img of the open-file workload, dumped by CRIU 4.1.1 in a 6.12 guest (file names and sizes only, no memory).
const RECORDED = join(import.meta.dirname, '../../fixtures/recorded/criu-images/files-open-file-4.1.1.img');
const dirs: string[] = [];
function imageDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cc-tamper-'));
  dirs.push(d);
  copyFileSync(RECORDED, join(d, 'files.img'));
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('tampering with a dumped image set', () => {
  test('files.img decodes to the files the workload held; encoding its entries back gives the same bytes', () => {
    const d = imageDir();
    const files = recordedRegFiles(d);
    expect(files.find((f) => /^\/tmp\/cc-open-file-\d+$/.test(f.name) && f.size !== undefined)).toMatchObject({ size: 65536, mode: 0o100600 });
    expect(files.map((f) => f.name)).toContain('/dev/null');
    const buf = readFileSync(join(d, 'files.img'));
    for (let pos = 8; pos < buf.length; ) {
      const size = buf.readUInt32LE(pos);
      const entry = buf.subarray(pos + 4, pos + 4 + size);
      expect(Buffer.from(encodeFields([...fields(entry)]))).toEqual(entry);
      pos += 4 + size;
    }
  });

  test('a changed recorded size is the only change: the file decodes, every other entry is untouched', () => {
    const d = imageDir();
    const before = recordedRegFiles(d);
    const t = tamperRegFileSize(d, /cc-open-file-/, 1234);
    expect(t.what).toMatch(/^\/tmp\/cc-open-file-\d+: size 65536 → 1234$/);
    const after = recordedRegFiles(d);
    expect(after).toEqual(before.map((f) => (/cc-open-file-/.test(f.name) && f.size !== undefined ? { ...f, size: 1234 } : f)));
    // A size that needs a longer varint still leaves a well-formed image.
    tamperRegFileSize(d, /cc-open-file-/, 2 ** 40);
    expect(recordedRegFiles(d).find((f) => /cc-open-file-/.test(f.name) && f.size !== undefined)!.size).toBe(2 ** 40);
  });

  test('no matching file, or not a files.img: a TamperError naming what is there', () => {
    const d = imageDir();
    expect(() => tamperRegFileSize(d, /no-such/, 1)).toThrow(/no regular file matching \/no-such\/ .*files: .*\/dev\/null/);
    writeFileSync(join(d, 'files.img'), Buffer.alloc(16));
    expect(() => recordedRegFiles(d)).toThrow(TamperError);
  });

  test('pages: flips bytes in the middle of the largest pages file, nothing else', () => {
    const d = imageDir();
    writeFileSync(join(d, 'pages-1.img'), Buffer.alloc(4096 * 8, 0x11));
    writeFileSync(join(d, 'pages-2.img'), Buffer.alloc(4096, 0x22));
    const t = tamperPages(d, 4);
    expect(t).toEqual({ file: 'pages-1.img', what: '4 bytes flipped at offset 17384 of 32768' });
    const p = readFileSync(join(d, 'pages-1.img'));
    expect([...p.subarray(17384, 17388)]).toEqual([0xee, 0xee, 0xee, 0xee]);
    expect(p.filter((b) => b !== 0x11)).toHaveLength(4);
    expect(readFileSync(join(d, 'pages-2.img')).every((b) => b === 0x22)).toBe(true);
    rmSync(join(d, 'pages-1.img'));
    rmSync(join(d, 'pages-2.img'));
    expect(() => tamperPages(d)).toThrow(/no pages-\*\.img/);
  });
});
