import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ArtifactIntegrityError, OVERHEAD_BYTES, decryptFile, encryptingSink, isEncrypted, pump } from './cipher.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'cc-cipher-'));
// What CRIU puts at the start of every image: its magic (img-streamer aside), e.g. 0x54564319 for an image set.
const CRIU_MAGIC = Buffer.from([0x19, 0x43, 0x56, 0x54]);

describe('AES-256-GCM per file', () => {
  test('encrypted while copied (0600, no CRIU magic, no plaintext), and decrypted back byte for byte', async () => {
    const d = dir();
    const key = randomBytes(32);
    const plain = Buffer.concat([CRIU_MAGIC, Buffer.from('SECRET-CANARY-'.repeat(1000)), randomBytes(3 << 20)]);
    writeFileSync(join(d, 'pages-1.img'), plain);
    const n = await pump(join(d, 'pages-1.img'), await encryptingSink(key, join(d, 'enc'), 'p/s/cells/c/img/pages-1.img'));
    expect(n).toBe(plain.length);
    const enc = readFileSync(join(d, 'enc'));
    expect(statSync(join(d, 'enc')).mode & 0o777).toBe(0o600);
    expect(enc.length).toBe(plain.length + OVERHEAD_BYTES);
    expect(isEncrypted(enc)).toBe(true);
    expect(enc.subarray(0, 4).equals(CRIU_MAGIC)).toBe(false);
    expect(enc.includes(Buffer.from('SECRET-CANARY-'))).toBe(false);
    await decryptFile(key, join(d, 'enc'), join(d, 'back'), 'p/s/cells/c/img/pages-1.img');
    expect(readFileSync(join(d, 'back')).equals(plain)).toBe(true);
    expect(statSync(join(d, 'back')).mode & 0o777).toBe(0o600);
  });

  test('a wrong key, a changed byte or another name: refused, and nothing of the plaintext is left', async () => {
    const d = dir();
    const key = randomBytes(32);
    writeFileSync(join(d, 'core.img'), randomBytes(5000));
    await pump(join(d, 'core.img'), await encryptingSink(key, join(d, 'enc'), 'a/core.img'));
    await expect(decryptFile(randomBytes(32), join(d, 'enc'), join(d, 'x'), 'a/core.img')).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(decryptFile(key, join(d, 'enc'), join(d, 'x'), 'b/core.img')).rejects.toThrow(/does not decrypt with this key/);
    const enc = readFileSync(join(d, 'enc'));
    enc[100]! ^= 1;
    writeFileSync(join(d, 'enc2'), enc);
    await expect(decryptFile(key, join(d, 'enc2'), join(d, 'x'), 'a/core.img')).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(decryptFile(key, join(d, 'core.img'), join(d, 'x'), 'a/core.img')).rejects.toThrow(/not a criu-compat encrypted artifact/);
    expect(readdirSync(d).sort()).toEqual(['core.img', 'enc', 'enc2']);
  });
});
