import { fields, num, WireError } from './protobuf.ts';

/**
 * CRIU's stats images, decoded without crit. Layout (criu/image.c): a
 * u32 head magic (IMG_SERVICE_MAGIC), the u32 magic of the image type,
 * then entries of u32 size + protobuf. Field numbers are those of CRIU's
 * images/stats.proto.
 */
export const IMG_SERVICE_MAGIC = 0x55105940;
export const STATS_MAGIC = 0x57093306;

export class CriuImageError extends Error {
  override name = 'CriuImageError';
}

/** Times in microseconds, as CRIU records them. */
export interface DumpStats {
  freezingTimeUs: number;
  frozenTimeUs: number;
  memdumpTimeUs: number;
  memwriteTimeUs: number;
  pagesScanned: number;
  pagesSkippedParent: number;
  pagesWritten: number;
  pagesLazy: number;
  irmapResolveUs?: number;
  pagePipes?: number;
  pagePipeBufs?: number;
  shpagesScanned?: number;
  shpagesSkippedParent?: number;
  shpagesWritten?: number;
}

export interface RestoreStats {
  pagesCompared: number;
  pagesSkippedCow: number;
  forkingTimeUs: number;
  restoreTimeUs: number;
  pagesRestored?: number;
}

export interface Stats {
  dump?: DumpStats;
  restore?: RestoreStats;
}

const DUMP_FIELDS: Record<number, keyof DumpStats> = {
  1: 'freezingTimeUs',
  2: 'frozenTimeUs',
  3: 'memdumpTimeUs',
  4: 'memwriteTimeUs',
  5: 'pagesScanned',
  6: 'pagesSkippedParent',
  7: 'pagesWritten',
  8: 'irmapResolveUs',
  9: 'pagesLazy',
  10: 'pagePipes',
  11: 'pagePipeBufs',
  12: 'shpagesScanned',
  13: 'shpagesSkippedParent',
  14: 'shpagesWritten',
};
const DUMP_REQUIRED: (keyof DumpStats)[] = ['freezingTimeUs', 'frozenTimeUs', 'memdumpTimeUs', 'memwriteTimeUs', 'pagesScanned', 'pagesSkippedParent', 'pagesWritten', 'pagesLazy'];
const RESTORE_FIELDS: Record<number, keyof RestoreStats> = { 1: 'pagesCompared', 2: 'pagesSkippedCow', 3: 'forkingTimeUs', 4: 'restoreTimeUs', 5: 'pagesRestored' };
const RESTORE_REQUIRED: (keyof RestoreStats)[] = ['pagesCompared', 'pagesSkippedCow', 'forkingTimeUs', 'restoreTimeUs'];

function scalars<T extends object>(what: string, msg: Uint8Array, map: Record<number, keyof T>, required: (keyof T)[]): T {
  const out: Record<string, number> = {};
  for (const f of fields(msg)) {
    const name = map[f.no];
    if (name === undefined) continue; // a newer CRIU's field: skip it
    if (f.wire !== 0 || f.value === undefined) throw new WireError(`${what}.${String(name)} is not a varint`);
    out[name as string] = num(f.value);
  }
  const missing = required.filter((k) => out[k as string] === undefined);
  if (missing.length) throw new WireError(`${what} lacks required ${missing.join(', ')}`);
  return out as T;
}

/** Splits an image into its entries after checking the magic words. */
function entries(buf: Uint8Array, what: string, magics: number[]): Uint8Array[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < magics.length * 4) throw new CriuImageError(`${what}: ${buf.length} bytes is too short for its magic`);
  magics.forEach((m, i) => {
    const got = dv.getUint32(i * 4, true);
    if (got !== m) throw new CriuImageError(`${what}: magic #${i + 1} is 0x${got.toString(16)}, expected 0x${m.toString(16)} (not a ${what} image?)`);
  });
  const out: Uint8Array[] = [];
  let pos = magics.length * 4;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new CriuImageError(`${what}: truncated entry size at byte ${pos}`);
    const size = dv.getUint32(pos, true);
    pos += 4;
    if (pos + size > buf.length) throw new CriuImageError(`${what}: entry of ${size} bytes at byte ${pos} runs past the end (${buf.length}); the image is truncated`);
    out.push(buf.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}

/** Decodes stats-dump or stats-restore. */
export function decodeStats(buf: Uint8Array, what = 'stats'): Stats {
  const list = entries(buf, what, [IMG_SERVICE_MAGIC, STATS_MAGIC]);
  if (list.length !== 1) throw new CriuImageError(`${what}: expected one entry, found ${list.length}`);
  const stats: Stats = {};
  try {
    for (const f of fields(list[0]!)) {
      if (f.no === 1 && f.bytes) stats.dump = scalars<DumpStats>('dump', f.bytes, DUMP_FIELDS, DUMP_REQUIRED);
      else if (f.no === 2 && f.bytes) stats.restore = scalars<RestoreStats>('restore', f.bytes, RESTORE_FIELDS, RESTORE_REQUIRED);
    }
  } catch (e) {
    if (e instanceof WireError) throw new CriuImageError(`${what}: ${e.message}`);
    throw e;
  }
  return stats;
}
