import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CriuImageError, decodeStats } from './images.ts';

// Recorded from a real dump/restore of the counter workload (Debian trixie, CRIU 4.1.1) on this machine kind.
const rec = (f: string) => new Uint8Array(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/criu-images', f)));

describe('CRIU images decoded in TypeScript', () => {
  test('stats-dump', () => {
    const s = decodeStats(rec('stats-dump'), 'stats-dump');
    expect(s.restore).toBeUndefined();
    expect(s.dump).toMatchObject({ freezingTimeUs: 635, frozenTimeUs: 23049, memdumpTimeUs: 8615, memwriteTimeUs: 4405, pagesScanned: 4377, pagesSkippedParent: 0, pagesWritten: 4370, pagesLazy: 0 });
    // counter holds 16 MiB of heap plus a 1 MiB mapping: at least 4352 pages of 4 KiB must be written.
    expect(s.dump!.pagesWritten).toBeGreaterThanOrEqual(4352);
  });

  test('stats-restore', () => {
    expect(decodeStats(rec('stats-restore'), 'stats-restore')).toEqual({
      restore: { pagesCompared: 0, pagesSkippedCow: 0, forkingTimeUs: 4, restoreTimeUs: 68047, pagesRestored: 4370 },
    });
  });

  test('every truncation is a clear CriuImageError, never a crash or a wrong number', () => {
    for (const name of ['stats-dump', 'stats-restore']) {
      const full = rec(name);
      for (let n = 0; n < full.length; n++) {
        const cut = full.subarray(0, n);
        expect(() => decodeStats(cut), `${name}[0..${n}]`).toThrow(CriuImageError);
      }
    }
  });

  test('wrong magic names what it found', () => {
    expect(() => decodeStats(rec('inventory.img'), 'stats-dump')).toThrow(/stats-dump: magic #1 is 0x58313116, expected 0x55105940/);
  });

  test('a corrupt payload (runaway varint) is refused', () => {
    const bad = rec('stats-dump').slice();
    bad.fill(0xff, 14, 30);
    expect(() => decodeStats(bad, 'stats-dump')).toThrow(CriuImageError);
  });
});
