import { expect, test } from 'vitest';
import { compareManifests, parseManifest, TransferTamperedError, type SealedManifest } from './transfer-integrity.ts';
import { createHmac } from 'node:crypto';

const key = Buffer.alloc(32, 9);
const H = (c: string) => c.repeat(64);
// What the node's find and sha256sum print (see manifestOnNode).
const listing = ['s\t10\timg/pages-1.img', 's\t3\tout/w.out', `l\t../pre\timg/parent`, `${H('a')}  ./img/pages-1.img`, `${H('b')}  ./out/w.out`, ''].join('\n');

function seal(entries: SealedManifest['entries'], k = key): SealedManifest {
  const canonical = JSON.stringify([...entries].sort((a, b) => (a.path < b.path ? -1 : 1)).map((e) => [e.path, e.size ?? null, e.sha256 ?? null, e.link ?? null]));
  return { entries, mac: createHmac('sha256', k).update(canonical).digest('hex') };
}

test('a manifest from find and sha256sum: sizes and digests by path, links by target', () => {
  expect(parseManifest(listing)).toEqual([
    { path: 'img/pages-1.img', size: 10, sha256: H('a') },
    { path: 'out/w.out', size: 3, sha256: H('b') },
    { path: 'img/parent', link: '../pre' },
  ]);
});

test('the same tree passes; a changed byte, size, link, a missing or added file, or a changed manifest is named', () => {
  const sent = parseManifest(listing);
  const sealed = seal(sent);
  expect(compareManifests(sealed, sent, {}, key)).toEqual([]);
  const changed = sent.map((e) => (e.path === 'img/pages-1.img' ? { ...e, sha256: H('c') } : e));
  expect(compareManifests(sealed, changed, {}, key)).toEqual(['img/pages-1.img: content changed (SHA-256 differs)']);
  expect(compareManifests(sealed, sent.map((e) => (e.path === 'out/w.out' ? { ...e, size: 4 } : e)), {}, key)).toEqual(['out/w.out: size 3 → 4']);
  expect(compareManifests(sealed, sent.map((e) => (e.link ? { ...e, link: '/etc' } : e)), {}, key)).toEqual(['img/parent: link target changed']);
  expect(compareManifests(sealed, sent.slice(1), {}, key)).toEqual(['img/pages-1.img: missing']);
  expect(compareManifests(sealed, [...sent, { path: 'img/extra', size: 1, sha256: H('d') }], {}, key)).toEqual(['img/extra: not in the manifest (added on the way)']);
  // The manifest changed to match a tampered tree: its seal no longer holds.
  expect(compareManifests({ ...sealed, entries: changed }, changed, {}, key)).toEqual(["the manifest's seal does not match it (the manifest itself was changed)"]);
  // Sealed under another key (another run): refused.
  expect(compareManifests(seal(sent, Buffer.alloc(32, 1)), sent, {}, key)).toHaveLength(1);
});

const changed = (l: SealedManifest['entries']) => l.map((e) => (e.path === 'img/pages-1.img' ? { ...e, sha256: H('c') } : e));

test('a merge may find files of the destination\'s own; skipped paths are not expected; live files are not checked', () => {
  const sent = parseManifest(listing);
  const sealed = seal(sent);
  expect(compareManifests(sealed, [...sent, { path: 'img/pages-2.img', size: 1, sha256: H('e') }], { allowExtra: true }, key)).toEqual([]);
  expect(compareManifests(sealed, sent.slice(1), { skip: (p) => p.startsWith('img/pages') }, key)).toEqual([]);
  // A log still written while it moves: its change is not a tamper; every other file still counts.
  const grown = sent.map((e) => (e.path === 'out/w.out' ? { ...e, size: 9, sha256: H('f') } : e));
  expect(compareManifests(sealed, grown, { live: (p) => p === 'out/w.out' }, key)).toEqual([]);
  expect(compareManifests(sealed, changed(grown), { live: (p) => p === 'out/w.out' }, key)).toEqual(['img/pages-1.img: content changed (SHA-256 differs)']);
});

test('a refusal is an error with the transfer-tampered diagnosis, blaming the environment', () => {
  const e = new TransferTamperedError('/run/x', 'a', 'b', ['img/pages-1.img: content changed (SHA-256 differs)']);
  expect(e.message).toMatch(/^transfer refused before restore: \/run\/x from a to b/);
  expect(e.diagnosis).toMatchObject({ id: 'transfer-tampered', blame: 'environment', fatal: true, evidence: 'img/pages-1.img: content changed (SHA-256 differs)' });
});

// Real output of the manifest script (GNU find and sha256sum) for a file named `we\ird`: sha256sum escapes the
// name and marks the line with a leading backslash, find prints it raw.
const escaped = ['s\t3\timg/we\\ird', 's\t1\timg/ok', '\\ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  ./img/we\\\\ird', '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  ./img/ok', ''].join('\n');

test('a name sha256sum escapes still gets its digest; a file listed without one is never passed unchecked', () => {
  expect(parseManifest(escaped)).toContainEqual({ path: 'img/we\\ird', size: 3, sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
  // Whatever the listing could not digest (a name with a newline): both sides lack the digest, the content is unknown.
  const blind = [{ path: 'img/odd', size: 3 }];
  expect(compareManifests(seal(blind), blind, {}, key)).toEqual(['img/odd: no SHA-256 was listed for it (its name?): its content cannot be checked']);
});
