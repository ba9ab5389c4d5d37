import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ArtifactKeyError, loadArtifactKey, parseKey } from './key.ts';
import { formatDuration, parseDuration, parseSize } from './units.ts';
import { errorCode } from '../errors.ts';

const HEX = 'a1'.repeat(32);

describe('the artifacts key', () => {
  test('64 hex digits or base64 of 32 bytes; anything else is an ArtifactKeyError (a usage error: exit 2)', () => {
    expect(parseKey(`${HEX}\n`, 'k')).toEqual(Buffer.from(HEX, 'hex'));
    expect(parseKey(Buffer.alloc(32, 7).toString('base64'), 'k')).toEqual(Buffer.alloc(32, 7));
    for (const bad of ['', 'abc', 'a1'.repeat(31), 'a1'.repeat(33), Buffer.alloc(16).toString('base64'), 'g'.repeat(64)]) {
      const e = (() => {
        try {
          parseKey(bad, 'k');
        } catch (x) {
          return x;
        }
      })();
      expect(e, bad).toBeInstanceOf(ArtifactKeyError);
      expect(errorCode(e)).toBe('USAGE');
      expect((e as Error).message).not.toContain(bad || '\0'); // the text given is never echoed: it may be most of a key
    }
  });

  test('a key file owned by another user is refused even at 0600 (its owner reads it, and may change it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-key-'));
    const f = join(dir, 'key');
    writeFileSync(f, HEX, { mode: 0o600 });
    chownSync(f, process.getuid!() + 1000, 0);
    await expect(loadArtifactKey({ file: f })).rejects.toThrow(ArtifactKeyError);
    await expect(loadArtifactKey({ file: f })).rejects.toThrow(/owned by uid \d+, not by the user running criu-compat \(uid \d+\); chown it/);
  });

  test('a key file must be 0600: one others can read is refused; the id names the key without revealing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-key-'));
    const f = join(dir, 'key');
    writeFileSync(f, HEX, { mode: 0o644 });
    chmodSync(f, 0o644);
    await expect(loadArtifactKey({ file: f })).rejects.toThrow(/mode 0644 lets others read the key; chmod 600 it/);
    chmodSync(f, 0o600);
    const k = (await loadArtifactKey({ file: f }))!;
    expect(k.key).toEqual(Buffer.from(HEX, 'hex'));
    expect(k.id).toMatch(/^[0-9a-f]{16}$/);
    expect(HEX).not.toContain(k.id);
    expect((await loadArtifactKey({ env: { CRIU_COMPAT_ARTIFACTS_KEY: HEX } }))!.id).toBe(k.id);
    expect(await loadArtifactKey({ env: {} })).toBeUndefined();
  });
});

describe('durations and sizes of the flags', () => {
  test('parsed, and refused with the form they take', () => {
    expect(parseDuration('2h', 'f')).toBe(7_200_000);
    expect(parseDuration('1h30m', 'f')).toBe(5_400_000);
    expect(parseDuration('90s', 'f')).toBe(90_000);
    expect(parseSize('2GiB', 'f')).toBe(2 * 2 ** 30);
    expect(parseSize('1.5MB', 'f')).toBe(1_500_000);
    expect(parseSize('4096', 'f')).toBe(4096);
    expect(() => parseDuration('2', '--artifacts-ttl')).toThrow(/--artifacts-ttl takes a duration such as 90s/);
    expect(() => parseDuration('0h', '--artifacts-ttl')).toThrow(/takes a duration/);
    expect(() => parseSize('lots', '--artifacts-quota')).toThrow(/--artifacts-quota takes a size/);
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});
