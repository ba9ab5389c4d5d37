import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ociArchiveScript } from './oci-archive.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-oci-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a one-layer OCI image archive made with sh, tar and sha256sum', () => {
  test('every digest and size in index, manifest and config is the blob it names; the index carries the image name; the registry layout links the tag to the manifest digest', () => {
    mkdirSync(join(dir, 'root/cc'), { recursive: true });
    writeFileSync(join(dir, 'root/cc/hello'), 'hi\n', { mode: 0o755 });
    const out = join(dir, 'img.tar');
    execFileSync('sh', ['-c', ociArchiveScript({ rootDir: join(dir, 'root'), out, name: 'localhost:5000/x/y:1', entrypoint: ['/cc/hello'], registry: { root: join(dir, 'reg'), repo: 'x/y', tag: '1' } })]);
    const x = join(dir, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', out, '-C', x]);
    const blob = (d: string) => readFileSync(join(x, 'blobs/sha256', d.replace('sha256:', '')));
    const index = JSON.parse(readFileSync(join(x, 'index.json'), 'utf8'));
    const m = index.manifests[0];
    expect(m.annotations['io.containerd.image.name']).toBe('localhost:5000/x/y:1');
    const manifestBuf = blob(m.digest);
    expect(sha(manifestBuf)).toBe(m.digest.slice(7));
    expect(manifestBuf.length).toBe(m.size);
    const manifest = JSON.parse(manifestBuf.toString());
    const config = blob(manifest.config.digest);
    expect(config.length).toBe(manifest.config.size);
    const layer = blob(manifest.layers[0].digest);
    expect(sha(layer)).toBe(manifest.layers[0].digest.slice(7));
    expect(layer.length).toBe(manifest.layers[0].size);
    expect(JSON.parse(config.toString()).rootfs.diff_ids).toEqual([manifest.layers[0].digest]);
    expect(execFileSync('tar', ['-tvf', '-'], { input: layer }).toString()).toMatch(/-rwxr-xr-x 0\/0 .* \.\/cc\/hello/);
    expect(readlinkSync(join(dir, 'reg/x/y/manifests/1'))).toBe(m.digest);
    expect(sha(readFileSync(join(dir, 'reg/x/y/blobs', manifest.layers[0].digest)))).toBe(manifest.layers[0].digest.slice(7));
  });
});
