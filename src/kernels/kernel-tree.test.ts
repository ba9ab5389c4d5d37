import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { locateKernel } from './kernel-tree.ts';

// File lists of Debian kernel packages (dpkg-deb -c, recorded here 2026-11-30), unpacked as empty files into one tree.
const dirs: string[] = [];
async function unpackedTree(suite: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kernel-tree-'));
  dirs.push(dir);
  const list = readFileSync(join(import.meta.dirname, `../../fixtures/recorded/apt-kernel/${suite}.dpkg-contents`), 'utf8');
  for (const line of list.split('\n').filter((l) => l.startsWith('./'))) {
    const p = join(dir, line);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, '');
  }
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('finding vmlinuz, modules and config in unpacked kernel packages', () => {
  test('sid (linux-image + linux-base + linux-binary + linux-modules): vmlinuz and config next to the modules under usr/lib/modules', async () => {
    const t = await unpackedTree('sid');
    const k = await locateKernel(t, 'sid');
    expect(k).toEqual({
      release: '7.2.13+deb14-amd64',
      vmlinuz: join(t, 'usr/lib/modules/7.2.13+deb14-amd64/vmlinuz'),
      modulesDir: join(t, 'usr/lib/modules/7.2.13+deb14-amd64'),
      config: join(t, 'usr/lib/modules/7.2.13+deb14-amd64/config'),
    });
  });

  test('bookworm: boot/vmlinuz-RELEASE, modules under lib/modules', async () => {
    const t = await unpackedTree('bookworm');
    expect(await locateKernel(t, 'bookworm')).toEqual({
      release: '6.1.0-50-amd64',
      vmlinuz: join(t, 'boot/vmlinuz-6.1.0-50-amd64'),
      modulesDir: join(t, 'lib/modules/6.1.0-50-amd64'),
      config: join(t, 'boot/config-6.1.0-50-amd64'),
    });
  });

  test('trixie: boot/vmlinuz-RELEASE, modules under usr/lib/modules', async () => {
    const t = await unpackedTree('trixie');
    const k = await locateKernel(t, 'trixie');
    expect(k.release).toBe('6.12.117+deb13-amd64');
    expect(k.modulesDir).toBe(join(t, 'usr/lib/modules/6.12.117+deb13-amd64'));
  });

  test('the sid image package alone (no linux-binary) holds no kernel: said so', async () => {
    const t = await unpackedTree('sid');
    await rm(join(t, 'usr/lib/modules/7.2.13+deb14-amd64/vmlinuz'));
    await expect(locateKernel(t, 'kernel debian/sid: x.deb')).rejects.toThrow(/kernel debian\/sid: x\.deb holds no kernel image \(neither boot\/vmlinuz-RELEASE nor usr\/lib\/modules\/RELEASE\/vmlinuz\)/);
  });
});
