import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';

/**
 * Encryption at rest of kept artifacts, one file at a time, with node:crypto's
 * AES-256-GCM. A file is: "CCAE" 01 00 00 00 (8 bytes), a random 12-byte IV,
 * the ciphertext, the 16-byte tag. The header and the file's path within its
 * cell are authenticated too (a file moved to another name does not decrypt).
 * Plaintext never reaches the disk on the way in: chunks are encrypted as
 * they are copied out of the node.
 */

export const ENC_SUFFIX = '.ccenc';
const MAGIC = Buffer.from([0x43, 0x43, 0x41, 0x45, 0x01, 0, 0, 0]);
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + IV_BYTES;
/** What each encrypted file adds to its plaintext. */
export const OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES;
const CHUNK = 1 << 20;

/** The file is not ours, was changed, or the key is another one. */
export class ArtifactIntegrityError extends Error {
  override name = 'ArtifactIntegrityError';
}

/** Where a copy writes one file, chunk by chunk. */
export interface FileSink {
  write(chunk: Buffer): Promise<void>;
  /** Finishes the file (for an encrypted one: the tag). */
  close(): Promise<void>;
  /** Gives up: the partial file is removed. */
  abort(): Promise<void>;
}

/** Opens DEST (0600, new) and returns a sink that encrypts what it is given. rel names the file inside its cell. */
export async function encryptingSink(key: Buffer, dest: string, rel: string): Promise<FileSink> {
  const fh = await open(dest, 'wx', 0o600);
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([MAGIC, iv]);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.concat([header, Buffer.from(rel, 'utf8')]));
  await fh.write(header);
  let done = false;
  return {
    async write(chunk) {
      const out = cipher.update(chunk);
      if (out.length) await fh.write(out);
    },
    async close() {
      done = true;
      const tail = cipher.final();
      await fh.write(Buffer.concat([tail, cipher.getAuthTag()]));
      await fh.close();
    },
    async abort() {
      if (!done) await fh.close().catch(() => undefined);
      await rm(dest, { force: true });
    },
  };
}

/** A plain sink (no key): the same interface, for copies without encryption. */
export async function plainSink(dest: string): Promise<FileSink> {
  const fh = await open(dest, 'wx', 0o600);
  let done = false;
  return {
    async write(chunk) {
      await fh.write(chunk);
    },
    async close() {
      done = true;
      await fh.close();
    },
    async abort() {
      if (!done) await fh.close().catch(() => undefined);
      await rm(dest, { force: true });
    },
  };
}

/** Streams a host file into a sink. */
export async function pump(src: string, sink: FileSink): Promise<number> {
  const fh = await open(src, 'r');
  let total = 0;
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (!bytesRead) break;
      await sink.write(Buffer.from(buf.subarray(0, bytesRead)));
      total += bytesRead;
    }
    await sink.close();
    return total;
  } catch (e) {
    await sink.abort();
    throw e;
  } finally {
    await fh.close();
  }
}

/** Is this buffer the start of one of our encrypted files? */
export function isEncrypted(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC);
}

/**
 * Decrypts SRC into DEST (0600). The plaintext goes to a temporary name and
 * becomes DEST only once the tag checked out: a changed file or a wrong key
 * leaves nothing behind and throws ArtifactIntegrityError.
 */
export async function decryptFile(key: Buffer, src: string, dest: string, rel: string): Promise<number> {
  const fh = await open(src, 'r');
  const tmp = `${dest}.partial-${process.pid}`;
  let out: Awaited<ReturnType<typeof open>> | undefined;
  try {
    const size = (await fh.stat()).size;
    const header = Buffer.alloc(HEADER_BYTES);
    if (size < OVERHEAD_BYTES || (await fh.read(header, 0, HEADER_BYTES, 0)).bytesRead < HEADER_BYTES || !isEncrypted(header))
      throw new ArtifactIntegrityError(`${src}: not a criu-compat encrypted artifact`);
    const tag = Buffer.alloc(TAG_BYTES);
    await fh.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length));
    decipher.setAAD(Buffer.concat([header, Buffer.from(rel, 'utf8')]));
    decipher.setAuthTag(tag);
    out = await open(tmp, 'w', 0o600);
    const buf = Buffer.allocUnsafe(CHUNK);
    let total = 0;
    for (let pos = HEADER_BYTES; pos < size - TAG_BYTES; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - TAG_BYTES - pos), pos);
      if (!bytesRead) break;
      pos += bytesRead;
      const plain = decipher.update(buf.subarray(0, bytesRead));
      await out.write(plain);
      total += plain.length;
    }
    try {
      await out.write(decipher.final());
    } catch {
      throw new ArtifactIntegrityError(`${src}: does not decrypt with this key (a wrong key, or the file was changed)`);
    }
    await out.close();
    out = undefined;
    await rename(tmp, dest);
    return total;
  } catch (e) {
    await out?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await fh.close();
  }
}
