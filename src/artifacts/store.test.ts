import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { pump } from './cipher.ts';
import { readManifest, writeManifest } from './manifest.ts';
import type { ArtifactPolicy } from './policy.ts';
import { keepSet, type CopySource } from './store.ts';
import { decryptCell } from './decrypt.ts';
import { keyId } from './key.ts';

/** A node whose work directory is a host directory, copied out as the namespace backend does. */
function hostNode(root: string): CopySource {
  return {
    du: async (p) => readdirSync(join(root, p), { recursive: true }).reduce((n, f) => n + (statSync(join(root, p, String(f))).isFile() ? statSync(join(root, p, String(f))).size : 0), 0),
    copyOut: async (p, host, o) => {
      mkdirSync(host, { recursive: true, mode: 0o700 });
      for (const f of readdirSync(join(root, p), { recursive: true }).map(String)) {
        const src = join(root, p, f);
        if (statSync(src).isDirectory()) mkdirSync(join(host, f), { recursive: true, mode: 0o700 });
        else await pump(src, await o!.sink!(join(host, f), f));
      }
      return host;
    },
  };
}

async function run(quotaBytes: number, key?: Buffer): Promise<{ base: string; policy: ArtifactPolicy; node: CopySource }> {
  const base = mkdtempSync(join(tmpdir(), 'cc-store-'));
  const dir = join(base, 'run/artifacts');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await writeManifest(dir, { schema: 'criu-compat/artifacts', runId: 'R', createdAt: '2026-11-30T00:00:00Z', ttlMs: 1000, expiresAt: '2026-11-30T00:00:01Z', quotaBytes, usedBytes: 0, encryption: key ? { algorithm: 'aes-256-gcm', keyId: keyId(key) } : null, quotaReached: null, cells: [], notKept: [] });
  const work = join(base, 'work');
  for (const c of ['a', 'b', 'c']) {
    mkdirSync(join(work, c, 'img'), { recursive: true });
    writeFileSync(join(work, c, 'img', 'pages-1.img'), randomBytes(4000));
    writeFileSync(join(work, c, 'dump.log'), 'criu log\n');
  }
  return { base, policy: { runId: 'R', dir, ttlMs: 1000, quotaBytes }, node: hostNode(work) };
}

describe('keepSet', () => {
  test('kept whole until the quota; then this set and every later one are refused with "quota", and no partial set is left', async () => {
    const { policy, node } = await run(6000);
    const ref = (check: string) => ({ pool: 'p', suite: 'round-trip', check });
    const a = await keepSet(policy, undefined, ref('a'), 'p/round-trip/cells/a', [{ from: node, path: 'a', as: '' }]);
    expect(a).toMatchObject({ kept: true, files: 2 });
    const b = await keepSet(policy, undefined, ref('b'), 'p/round-trip/cells/b', [{ from: node, path: 'b', as: '' }]);
    expect(b).toMatchObject({ kept: false, reason: expect.stringMatching(/^quota \(5\.9 KiB per run reached at p\/round-trip\/b; 3\.9 KiB kept\)$/) });
    // Once the quota refused a set, the run keeps nothing more.
    const c = await keepSet(policy, undefined, ref('c'), 'p/round-trip/cells/c', [{ from: node, path: 'c', as: '' }]);
    expect(c.kept).toBe(false);
    expect(readdirSync(join(policy.dir, 'p/round-trip/cells'))).toEqual(['a']);
    const m = await readManifest(policy.dir);
    expect(m.cells.map((x) => x.cell)).toEqual(['p/round-trip/a']);
    expect(m.notKept.map((x) => x.cell)).toEqual(['p/round-trip/b', 'p/round-trip/c']);
    expect(m.quotaReached).toMatchObject({ cell: 'p/round-trip/b' });
    expect(m.usedBytes).toBe(4009);
    const empty: CopySource = { du: async () => 0, copyOut: async () => { throw new Error('not called'); } };
    expect(await keepSet(policy, undefined, ref('d'), 'p/round-trip/cells/d', [{ from: empty, path: 'd', as: '' }])).toEqual({ kept: false, reason: 'nothing (the cell left no files)' });
    for (const f of readdirSync(policy.dir, { recursive: true }).map(String)) {
      const st = statSync(join(policy.dir, f));
      expect(st.mode & 0o777, f).toBe(st.isDirectory() ? 0o700 : 0o600);
    }
  });

  test('with a key, every file is encrypted as it is copied, and decryptCell gives back the same bytes', async () => {
    const key = randomBytes(32);
    const { base, policy, node } = await run(1 << 20, key);
    policy.encryption = { keyId: keyId(key) };
    process.env.CRIU_COMPAT_ARTIFACTS_KEY = key.toString('hex');
    try {
      const r = await keepSet(policy, undefined, { pool: 'p', suite: 'migration', check: 'counter/cold' }, 'p/migration/cells/counter_cold/1', [
        { from: node, path: 'a', as: 'source' },
        { from: node, path: 'b', as: 'destination' },
      ]);
      expect(r.kept).toBe(true);
      const kept = readdirSync(policy.dir, { recursive: true }).map(String).filter((f) => statSync(join(policy.dir, f)).isFile() && !f.startsWith('manifest'));
      expect(kept.sort()).toEqual(['p/migration/cells/counter_cold/1/destination/dump.log.ccenc', 'p/migration/cells/counter_cold/1/destination/img/pages-1.img.ccenc', 'p/migration/cells/counter_cold/1/source/dump.log.ccenc', 'p/migration/cells/counter_cold/1/source/img/pages-1.img.ccenc']);
      for (const f of kept) expect(readFileSync(join(policy.dir, f)).includes(Buffer.from('criu log'))).toBe(false);
      writeFileSync(join(base, 'run/results.json'), JSON.stringify({ cells: [{ pool: 'p', suite: 'migration', check: 'counter/cold', artifacts: join(policy.dir, 'p/migration/cells/counter_cold') }] }));
      const to = join(base, 'plain');
      const d = await decryptCell(join(base, 'run'), 'counter/cold', to, { key, id: keyId(key), source: 'test' });
      expect(d.files).toBe(4);
      expect(readFileSync(join(to, '1/source/img/pages-1.img')).equals(readFileSync(join(base, 'work/a/img/pages-1.img')))).toBe(true);
      expect(readFileSync(join(to, '1/destination/img/pages-1.img')).equals(readFileSync(join(base, 'work/b/img/pages-1.img')))).toBe(true);
      expect(statSync(to).mode & 0o777).toBe(0o700);
      const other = randomBytes(32);
      await expect(decryptCell(join(base, 'run'), 'counter/cold', join(base, 'p2'), { key: other, id: keyId(other), source: 'test' })).rejects.toThrow(/is not the one run R encrypted with/);
      expect(existsSync(join(base, 'p2'))).toBe(false);
      expect(relative(base, to)).toBe('plain');
      // --to a directory that is not empty: refused before anything is done to it (its mode stays as it was).
      const busy = join(base, 'busy');
      mkdirSync(busy, { mode: 0o755 });
      chmodSync(busy, 0o755);
      writeFileSync(join(busy, 'mine'), 'x');
      await expect(decryptCell(join(base, 'run'), 'counter/cold', busy, { key, id: keyId(key), source: 'test' })).rejects.toThrow(/not empty; decrypt into a new directory/);
      expect(statSync(busy).mode & 0o777).toBe(0o755);
    } finally {
      delete process.env.CRIU_COMPAT_ARTIFACTS_KEY;
    }
  });
});
