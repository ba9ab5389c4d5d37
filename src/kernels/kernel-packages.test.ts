import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { contentHash } from '../util/hash.ts';
import { type AptPackage, kernelPackages, mainPart, parseDepends, parseStanzas, partsKeyInput } from './kernel-packages.ts';

// apt-cache show NAME/SUITE output recorded from the Debian archive here (2026-11-30), one file per suite.
const recorded = (suite: string) => parseStanzas(readFileSync(join(import.meta.dirname, `../../fixtures/recorded/apt-kernel/${suite}.apt-cache-show`), 'utf8'));

/** Looks packages up in a recorded suite the way PrivateApt.show does (exact version when asked); logs what was asked. */
function suiteLookup(suite: string) {
  const pkgs = recorded(suite);
  const asked: string[] = [];
  const lookup = async (name: string, version?: string): Promise<AptPackage> => {
    asked.push(version ? `${name}=${version}` : name);
    const p = pkgs.find((x) => x.name === name && (!version || x.version === version));
    if (!p) throw new Error(`no ${name} ${version ?? ''} in the recording of ${suite}`);
    return p;
  };
  return { lookup, asked };
}

describe('apt stanzas and Depends', () => {
  test('apt-cache show output: one package per stanza with version, hash, size and Depends', () => {
    const sid = recorded('sid');
    expect(sid.map((p) => p.name)).toEqual([
      'linux-image-amd64',
      'linux-base-amd64',
      'linux-image-7.2.13+deb14-amd64',
      'linux-base-7.2.13+deb14-amd64',
      'linux-binary-7.2.13+deb14-amd64',
      'linux-modules-7.2.13+deb14-amd64',
    ]);
    expect(sid[4]).toMatchObject({ version: '7.2.13-1', size: 14252084, sha256: 'fb8cd0ade4ef82d9dde1dcf183d4bf4033db1b549b0acc9973855ad9cc48c4f5' });
  });

  test('Depends: groups of alternatives, exact versions kept, other relations dropped', () => {
    const image = recorded('sid').find((p) => p.name === 'linux-image-7.2.13+deb14-amd64')!;
    expect(parseDepends(image.depends)).toEqual([
      [{ name: 'dracut' }, { name: 'initramfs-tools' }, { name: 'linux-initramfs-tool' }],
      [{ name: 'linux-base-7.2.13+deb14-amd64', exact: '7.2.13-1' }],
      [{ name: 'linux-binary-7.2.13+deb14-amd64', exact: '7.2.13-1' }],
      [{ name: 'linux-modules-7.2.13+deb14-amd64', exact: '7.2.13-1' }],
    ]);
    expect(parseDepends('libc6:any (>= 2.36), foo')).toEqual([[{ name: 'libc6' }], [{ name: 'foo' }]]);
  });
});

describe('the packages a Debian kernel is made of', () => {
  test('sid: linux-image-amd64 → linux-image-RELEASE → linux-binary, linux-modules, linux-base of that release, at the exact versions', async () => {
    const { lookup, asked } = suiteLookup('sid');
    const k = await kernelPackages('linux-image-amd64', lookup);
    expect(k.parts.map((p) => p.name)).toEqual([
      'linux-base-7.2.13+deb14-amd64',
      'linux-binary-7.2.13+deb14-amd64',
      'linux-image-7.2.13+deb14-amd64',
      'linux-modules-7.2.13+deb14-amd64',
    ]);
    expect(mainPart(k.parts).name).toBe('linux-image-7.2.13+deb14-amd64');
    // Only kernel parts are followed: not dracut/initramfs-tools, not kmod, not the linux-base tool package.
    expect(asked.every((a) => /^linux-(image|binary|modules|base)-/.test(a))).toBe(true);
    expect(asked).toContain('linux-binary-7.2.13+deb14-amd64=7.2.13-1');
    // The cache key is every part's SHA256.
    expect(partsKeyInput(k.parts)).toEqual(k.parts.map((p) => p.sha256));
  });

  test('trixie-backports (7.3, split, with a linux-modules-amd64 metapackage): metapackages followed, not unpacked', async () => {
    const { lookup } = suiteLookup('trixie-backports');
    const k = await kernelPackages('linux-image-amd64', lookup);
    expect(k.parts.map((p) => p.name)).toEqual([
      'linux-base-7.3.4+deb13-amd64',
      'linux-binary-7.3.4+deb13-amd64',
      'linux-image-7.3.4+deb13-amd64',
      'linux-modules-7.3.4+deb13-amd64',
    ]);
    expect(k.parts.every((p) => p.version === '7.3.4-1~bpo13+1')).toBe(true);
  });

  test('bookworm (one linux-image package): the same package and the same cache key as before the split was known', async () => {
    const { lookup } = suiteLookup('bookworm');
    const k = await kernelPackages('linux-image-amd64', lookup);
    expect(k.parts.map((p) => `${p.name} ${p.version}`)).toEqual(['linux-image-6.1.0-50-amd64 6.1.176-1']);
    // What the key was made of until now: {v: 1, sha256: the image's SHA256}.
    const sha = '7b5597492a0a65aee61985a492e6bcc3f2cde830072a0e3b3d8c7e1b90279bd3';
    expect(contentHash({ v: 1, sha256: partsKeyInput(k.parts) })).toBe(contentHash({ v: 1, sha256: sha }));
  });

  test('a package named in the config is the root: a release image is unpacked with its parts', async () => {
    const { lookup } = suiteLookup('sid');
    const k = await kernelPackages('linux-image-7.2.13+deb14-amd64', lookup);
    expect(k.root.name).toBe('linux-image-7.2.13+deb14-amd64');
    expect(k.parts).toHaveLength(4);
  });
});
