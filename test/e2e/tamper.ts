/**
 * Tampering with a dumped image set on the host, for tests that must see the
 * damage caught: a changed page (the workload's own verification must FAIL)
 * and a changed file size in files.img (CRIU's restore must refuse it).
 * Works on a host copy of the image directory (e.g. what --keep-artifacts or
 * Environment.copyOut made); copy it back in before restoring.
 *
 * Layout (CRIU's criu/image.c, images/magic.h): u32 IMG_COMMON_MAGIC, u32
 * the image's own magic, then entries of u32 size + protobuf. files.img
 * holds FileEntry {type = 1 (fd_types: REG = 1), id = 2, reg = 3}; its
 * RegFileEntry {id = 1, flags = 2, pos = 3, fown = 5, name = 6, mnt_id = 7,
 * size = 8, ext = 9, mode = 10, …} (images/fdinfo.proto, images/regfile.proto).
 * pages-N.img is raw page data, no header.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fields, type Field } from '../../src/criu/protobuf.ts';

export const IMG_COMMON_MAGIC = 0x54564319;
export const FILES_MAGIC = 0x56303138;
const FD_TYPE_REG = 1n;

export class TamperError extends Error {
  override name = 'TamperError';
}

/** What a tamper changed, for the test's message. */
export interface Tampered {
  file: string;
  what: string;
}

function varint(v: bigint): number[] {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

/** Writes fields back in the wire format: the inverse of fields() (same order, same wire types). */
export function encodeFields(list: readonly Field[]): Uint8Array {
  const out: number[] = [];
  for (const f of list) {
    out.push(...varint((BigInt(f.no) << 3n) | BigInt(f.wire)));
    if (f.wire === 0) out.push(...varint(f.value ?? 0n));
    else if (f.wire === 2) out.push(...varint(BigInt(f.bytes?.length ?? 0)), ...(f.bytes ?? []));
    else if (f.wire === 1 || f.wire === 5) {
      const dv = new DataView(new ArrayBuffer(f.wire === 1 ? 8 : 4));
      if (f.wire === 1) dv.setBigUint64(0, f.value ?? 0n, true);
      else dv.setUint32(0, Number(f.value ?? 0n), true);
      out.push(...new Uint8Array(dv.buffer));
    } else throw new TamperError(`cannot encode wire type ${f.wire} (field ${f.no})`);
  }
  return Uint8Array.from(out);
}

/**
 * Flips COUNT bytes (xor 0xff) in the middle of the largest pages-*.img: for
 * the counter workload that is inside its 16 MiB pattern region, which its
 * verification compares byte by byte.
 */
export function tamperPages(imagesDir: string, count = 16): Tampered {
  const pages = readdirSync(imagesDir).filter((f) => /^pages-\d+\.img$/.test(f));
  if (!pages.length) throw new TamperError(`${imagesDir}: no pages-*.img (not a dump's image directory?)`);
  const file = pages.map((f) => ({ f, size: statSync(join(imagesDir, f)).size })).sort((a, b) => b.size - a.size)[0]!;
  if (file.size < count) throw new TamperError(`${imagesDir}/${file.f}: only ${file.size} bytes`);
  const buf = readFileSync(join(imagesDir, file.f));
  const at = Math.floor(file.size / 2 / 4096) * 4096 + 1000;
  for (let i = 0; i < count; i++) buf[at + i]! ^= 0xff;
  writeFileSync(join(imagesDir, file.f), buf);
  return { file: file.f, what: `${count} bytes flipped at offset ${at} of ${file.size}` };
}

/** A regular file CRIU recorded: its name (as CRIU stores it, e.g. "/tmp/x") and the size it checks on restore. */
export interface RecordedRegFile {
  id: number;
  name: string;
  size?: number;
  mode?: number;
}

function entriesOf(buf: Buffer, file: string): { head: Buffer; entries: Uint8Array[] } {
  if (buf.length < 8 || buf.readUInt32LE(0) !== IMG_COMMON_MAGIC || buf.readUInt32LE(4) !== FILES_MAGIC)
    throw new TamperError(`${file}: not a files.img (magics 0x${buf.readUInt32LE(0).toString(16)} 0x${buf.readUInt32LE(4).toString(16)})`);
  const entries: Uint8Array[] = [];
  for (let pos = 8; pos < buf.length; ) {
    const size = buf.readUInt32LE(pos);
    if (pos + 4 + size > buf.length) throw new TamperError(`${file}: entry at byte ${pos} runs past the end`);
    entries.push(buf.subarray(pos + 4, pos + 4 + size));
    pos += 4 + size;
  }
  return { head: buf.subarray(0, 8), entries };
}

function regOf(entry: Uint8Array): Field[] | undefined {
  const top = [...fields(entry)];
  if (top.find((f) => f.no === 1)?.value !== FD_TYPE_REG) return undefined;
  const reg = top.find((f) => f.no === 3 && f.bytes);
  return reg ? [...fields(reg.bytes!)] : undefined;
}

/** The regular files files.img records. */
export function recordedRegFiles(imagesDir: string): RecordedRegFile[] {
  const file = join(imagesDir, 'files.img');
  const out: RecordedRegFile[] = [];
  for (const e of entriesOf(readFileSync(file), file).entries) {
    const reg = regOf(e);
    if (!reg) continue;
    const get = (no: number) => reg.find((f) => f.no === no);
    const size = get(8)?.value;
    const mode = get(10)?.value;
    out.push({ id: Number(get(1)?.value ?? 0n), name: new TextDecoder().decode(get(6)?.bytes), ...(size !== undefined ? { size: Number(size) } : {}), ...(mode !== undefined ? { mode: Number(mode) } : {}) });
  }
  return out;
}

/**
 * Changes the size files.img records for the regular file(s) whose name
 * matches, to SIZE: CRIU compares it with the file it opens on restore.
 */
export function tamperRegFileSize(imagesDir: string, name: RegExp, size: number): Tampered {
  const file = join(imagesDir, 'files.img');
  const { head, entries } = entriesOf(readFileSync(file), file);
  const changed: string[] = [];
  const out: Uint8Array[] = entries.map((e) => {
    const reg = regOf(e);
    const path = reg && new TextDecoder().decode(reg.find((f) => f.no === 6)?.bytes);
    const old = reg?.find((f) => f.no === 8);
    if (!reg || !path || !name.test(path) || !old) return e;
    changed.push(`${path}: size ${old.value} → ${size}`);
    const newReg = encodeFields(reg.map((f) => (f === old ? { ...f, value: BigInt(size) } : f)));
    return encodeFields([...fields(e)].map((f) => (f.no === 3 && f.wire === 2 ? { ...f, bytes: newReg } : f)));
  });
  if (!changed.length) throw new TamperError(`${file}: no regular file matching ${name} with a recorded size (files: ${recordedRegFiles(imagesDir).map((r) => r.name).join(', ')})`);
  const sizeOf = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const parts = [head, ...out.flatMap((e) => [sizeOf(e.length), Buffer.from(e)])];
  writeFileSync(file, Buffer.concat(parts));
  return { file: 'files.img', what: changed.join('; ') };
}
