/**
 * Unpacking OCI archives for real with tar, on a directory of the host
 * standing in for a node (the unpacker only needs exec, readFile and
 * remove): layers in order, gzip, whiteouts, the image's Env; broken
 * archives named.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Environment } from '../environments/environment.ts';
import { run } from '../util/process.ts';
import { OciArchiveError, unpackOciArchive } from './oci-unpack.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-oci-unpack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const host = {
  exec: async (argv: readonly string[], o: { timeoutMs: number }) => run(argv, { timeoutMs: o.timeoutMs }),
  readFile: async (p: string) => readFileSync(p),
  remove: async (p: string) => rmSync(p, { recursive: true, force: true }),
} as unknown as Environment;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An OCI layout tar of the given layers (each a directory tarred, gzip when asked), with an image config carrying ENV. */
function archive(name: string, layers: { files: Record<string, string>; gzip?: boolean }[], env: string[], o: { nested?: boolean } = {}): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => (writeFileSync(join(root, 'blobs/sha256', sha(b)), b), `sha256:${sha(b)}`);
  const descs = layers.map((l, i) => {
    const src = join(dir, `${name}-layer${i}`);
    for (const [f, text] of Object.entries(l.files)) {
      mkdirSync(join(src, f, '..'), { recursive: true });
      writeFileSync(join(src, f), text);
    }
    const tar = join(dir, `${name}-layer${i}.tar`);
    execFileSync('tar', [l.gzip ? '-czf' : '-cf', tar, '-C', src, '.']);
    return { mediaType: `application/vnd.oci.image.layer.v1.tar${l.gzip ? '+gzip' : ''}`, digest: put(readFileSync(tar)) };
  });
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: env } })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: config }, layers: descs })));
  const entry = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest, platform: { architecture: 'amd64', os: 'linux' } };
  const inner = o.nested ? { mediaType: 'application/vnd.oci.image.index.v1+json', digest: put(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entry] }))) } : entry;
  writeFileSync(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:' + '0'.repeat(64), platform: { architecture: 'arm64', os: 'linux' } }, inner] }));
  writeFileSync(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const out = join(dir, `${name}.tar`);
  execFileSync('tar', ['-cf', out, '-C', root, 'oci-layout', 'index.json', 'blobs']);
  return out;
}

describe('unpacking an OCI archive into a root filesystem', () => {
  test('layers applied in order (gzip too), whiteouts remove what lower layers put, opaque dirs are emptied; Env returned', async () => {
    const a = archive(
      'three',
      [
        { files: { 'etc/passwd': 'root:x:0:0::/:/bin/sh\n', 'usr/bin/tool': 'v1', 'var/cache/a': 'a', 'var/cache/b': 'b', 'opt/old': 'x' } },
        { files: { 'usr/bin/tool': 'v2', 'opt/.wh.old': '', 'var/cache/.wh..wh..opq': '', 'var/cache/c': 'c' }, gzip: true },
        { files: { 'usr/bin/.wh.tool': '' } },
      ],
      ['PATH=/usr/bin', 'LANG=C.UTF-8'],
      { nested: true },
    );
    const rootfs = join(dir, 'out-three');
    const image = await unpackOciArchive(host, a, rootfs, { timeoutMs: 30_000 });
    expect(image).toEqual({ env: { PATH: '/usr/bin', LANG: 'C.UTF-8' }, layers: 3 });
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8')).toMatch(/^root:/);
    expect(existsSync(join(rootfs, 'usr/bin/tool'))).toBe(false);
    expect(existsSync(join(rootfs, 'opt/old'))).toBe(false);
    expect(existsSync(join(rootfs, 'var/cache/a'))).toBe(false);
    expect(readFileSync(join(rootfs, 'var/cache/c'), 'utf8')).toBe('c');
    expect(execFileSync('find', [rootfs, '-name', '.wh.*']).toString()).toBe('');
    expect(existsSync(`${rootfs}.layout`)).toBe(false);
  });

  test('a tar without an image layout, or with a missing blob, is an OciArchiveError naming the problem', async () => {
    const plain = join(dir, 'plain.tar');
    execFileSync('tar', ['-cf', plain, '-C', dir, 'three.tar']);
    await expect(unpackOciArchive(host, plain, join(dir, 'out-plain'), { timeoutMs: 30_000 })).rejects.toThrow(OciArchiveError);
    await expect(unpackOciArchive(host, plain, join(dir, 'out-plain'), { timeoutMs: 30_000 })).rejects.toThrow(/no linux\/amd64 image in index.json \(0 manifest/);
    const a = archive('gone', [{ files: { 'etc/passwd': '' } }], []);
    const root = join(dir, 'gone');
    const manifest = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')).manifests[1].digest.slice(7);
    rmSync(join(root, 'blobs/sha256', manifest));
    execFileSync('tar', ['-cf', a, '-C', root, 'oci-layout', 'index.json', 'blobs']);
    await expect(unpackOciArchive(host, a, join(dir, 'out-gone'), { timeoutMs: 30_000 })).rejects.toThrow(/blob sha256:[0-9a-f]{64} is named but not in blobs\/sha256\//);
  });
});
