import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { compressionOf } from './archive-at-rest.ts';
import { apiAccessVerdict, parseSeen, reachableByNonRoot } from './api-access.ts';
import { exposed, parseModes } from './artifact-modes.ts';
import { sandboxPrefix } from './forensic-sandbox.ts';
import { flipOneByte } from './transfer-check.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-sec-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('image files: anything with group or other bits, or not root\'s, is exposed; links are not', () => {
  const list = parseModes(['d 700 0 0 ', 'f 600 0 0 pages-1.img', 'f 644 0 0 files.img', 'f 600 1000 0 core-1.img', 'l 777 0 0 parent', ''].join('\n'));
  expect(list).toHaveLength(5);
  expect(exposed(list)).toEqual(['files.img 0644 0:0', 'core-1.img 0600 1000:0']);
});

test('archives: compression from the first bytes (never taken for encryption)', () => {
  expect(compressionOf(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
  expect(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
  const tar = Buffer.alloc(512);
  tar.write('ustar', 257, 'latin1');
  expect(compressionOf(tar)).toBe('none (tar)');
  expect(compressionOf(Buffer.alloc(16, 0x42))).toBe('unknown');
});

test('API sockets and checkpoint dirs: reachable by non-root through others\' or a non-root group\'s bits, behind searchable parents', () => {
  const stat = (lines: string[]) => parseSeen(lines.join('\n'));
  const root = 'S|directory|755|0|0|/';
  const run = 'S|directory|755|0|0|/run';
  // containerd's usual 0660 root:root: root only.
  const ok = stat(['S|socket|660|0|0|/run/containerd/containerd.sock', 'S|directory|711|0|0|/run/containerd', run, root]);
  expect(reachableByNonRoot(ok, ['/run/containerd/containerd.sock'])).toEqual([]);
  // docker's 0660 root:docker: anyone in that group.
  const grp = stat(['S|socket|660|0|999|/run/docker.sock', run, root]);
  expect(reachableByNonRoot(grp, ['/run/docker.sock'])).toEqual(['socket /run/docker.sock 0660 0:999']);
  // world-writable, but behind a 0700 directory: unreachable.
  const hidden = stat(['S|socket|666|0|0|/run/podman/podman.sock', 'S|directory|700|0|0|/run/podman', run, root]);
  expect(reachableByNonRoot(hidden, ['/run/podman/podman.sock'])).toEqual([]);
  // A kubelet checkpoint directory others can list, and an archive in it they can read.
  const kube = stat(['S|directory|755|0|0|/var/lib/kubelet/checkpoints', 'S|directory|755|0|0|/var/lib/kubelet', 'S|directory|755|0|0|/var/lib', 'S|directory|755|0|0|/var', root, 'F|f|644|0|0|/var/lib/kubelet/checkpoints/checkpoint-a.tar', 'F|f|600|0|0|/var/lib/kubelet/checkpoints/checkpoint-b.tar']);
  expect(reachableByNonRoot(kube, ['/var/lib/kubelet/checkpoints'])).toEqual(['directory /var/lib/kubelet/checkpoints 0755 0:0', 'file /var/lib/kubelet/checkpoints/checkpoint-a.tar 0644 0:0']);
});

test('API sockets and checkpoint dirs owned by a non-root user: that user reaches them whatever the group and other bits say', () => {
  const stat = (lines: string[]) => parseSeen(lines.join('\n'));
  const root = 'S|directory|755|0|0|/';
  const run = 'S|directory|755|0|0|/run';
  // A socket 0600 owned by uid 1000: that user can connect (and chmod it).
  const owned = stat(['S|socket|600|1000|0|/run/containerd/containerd.sock', 'S|directory|711|0|0|/run/containerd', run, root]);
  expect(reachableByNonRoot(owned, ['/run/containerd/containerd.sock'])).toEqual(['socket /run/containerd/containerd.sock 0600 1000:0']);
  // A checkpoint directory 0700 of uid 1000: its owner lists and reads it.
  const dir = stat(['S|directory|700|1000|1000|/var/lib/containerd', 'S|directory|755|0|0|/var/lib', 'S|directory|755|0|0|/var', root]);
  expect(reachableByNonRoot(dir, ['/var/lib/containerd'])).toEqual(['directory /var/lib/containerd 0700 1000:1000']);
  // An archive 0600 owned by a user, in a root-only-listable checkpoint directory they can search.
  const file = stat(['S|directory|711|0|0|/var/lib/kubelet/checkpoints', 'S|directory|755|0|0|/var/lib/kubelet', 'S|directory|755|0|0|/var/lib', 'S|directory|755|0|0|/var', root, 'F|f|600|1000|0|/var/lib/kubelet/checkpoints/checkpoint-a.tar']);
  expect(reachableByNonRoot(file, ['/var/lib/kubelet/checkpoints'])).toEqual(['directory /var/lib/kubelet/checkpoints 0711 0:0', 'file /var/lib/kubelet/checkpoints/checkpoint-a.tar 0600 1000:0']);
});

test('API access: a runtime API service that made no socket leaves the check undecided (ERROR), never a SKIP or a PASS for what was not seen', () => {
  const failed = ['containerd API service made no socket within 20 s: level=fatal msg="failed to load plugin"'];
  expect(apiAccessVerdict({ present: [], reachable: [], described: [], failed })).toMatchObject({ status: 'ERROR', reason: expect.stringContaining('containerd API service made no socket') });
  expect(apiAccessVerdict({ present: ['/run/podman/podman.sock'], reachable: [], described: ['/run/podman/podman.sock 0600 0:0'], failed })).toMatchObject({ status: 'ERROR' });
  // What was seen and is reachable is decisive on its own.
  expect(apiAccessVerdict({ present: ['/run/podman/podman.sock'], reachable: ['socket /run/podman/podman.sock 0666 0:0'], described: [], failed }).status).toBe('FAIL');
  expect(apiAccessVerdict({ present: [], reachable: [], described: [], failed: [] }).status).toBe('SKIP');
  expect(apiAccessVerdict({ present: ['/run/podman/podman.sock'], reachable: [], described: ['/run/podman/podman.sock 0600 0:0'], failed: [] }).status).toBe('PASS');
});

test('the forensic sandbox: a new network and mount namespace, each path bound read-only, then the command', () => {
  expect(sandboxPrefix(['/run/criu-compat', '/dev/shm'])).toEqual(['unshare', '--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', expect.stringContaining('mount -o remount,bind,ro'), 'forensic-sandbox', '/run/criu-compat', '/dev/shm', '--']);
  // /dev (the host's on a namespace node) with its sub-mounts, then /dev/shm read-only on top of it.
  const withDev = sandboxPrefix(['/run/criu-compat', '/dev/shm', '/dev']);
  expect(withDev.slice(-4)).toEqual(['/run/criu-compat', '/dev', '/dev/shm', '--']);
  expect(withDev[8]).toContain('--rbind');
});

test('tampering in transit flips one byte of the largest pages image, and nothing else', async () => {
  writeFileSync(join(dir, 'pages-1.img'), Buffer.alloc(100, 1));
  writeFileSync(join(dir, 'pages-2.img'), Buffer.alloc(4096, 2));
  writeFileSync(join(dir, 'core-1.img'), Buffer.alloc(9000, 3));
  expect(await flipOneByte(dir)).toBe('pages-2.img');
  const b = readFileSync(join(dir, 'pages-2.img'));
  expect([...b].filter((x) => x !== 2)).toEqual([2 ^ 0xff]);
  expect(b[2048]).toBe(2 ^ 0xff);
  expect(readFileSync(join(dir, 'pages-1.img')).equals(Buffer.alloc(100, 1))).toBe(true);
  await expect(flipOneByte(join(dir, 'nope'))).rejects.toThrow();
});
