import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseCriuVersion, parseFeatureList } from './help.ts';

const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/criu-help', f), 'utf8');

describe('criu --help / --version (recorded from Debian trixie criu 4.1.1)', () => {
  test('feature list', () => {
    const f = parseFeatureList(rec('criu-4.1.1-trixie.txt'));
    expect(f[0]).toBe('mnt_id');
    expect(f).toContain('mem_dirty_track');
    expect(f).toContain('uffd-noncoop');
    expect(f.at(-1)).toBe('overlayfs_maps');
    expect(f).toHaveLength(42);
    expect(f).not.toContain('FEAT');
  });

  test('version', () => {
    expect(parseCriuVersion(rec('criu-4.1.1-version.txt'))).toBe('4.1.1');
    expect(parseCriuVersion('criu: command not found')).toBeUndefined();
  });

  test('feature list of Debian bookworm criu 3.17.1 (fewer, older names)', () => {
    const f = parseFeatureList(rec('criu-3.17.1-bookworm.txt'));
    expect(f).toHaveLength(39);
    expect(f).toContain('mem_dirty_track');
    expect(f).not.toContain('overlayfs_maps');
  });

  test('help without a feature list gives none', () => {
    expect(parseFeatureList('Usage:\n  criu check [--feature FEAT]\n')).toEqual([]);
  });
});
