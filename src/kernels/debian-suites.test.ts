import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseRelease } from './debian-suites.ts';

// The first lines of Release files recorded from the Debian archive here (2026-11-30).
const head = (suite: string) => readFileSync(join(import.meta.dirname, `../../fixtures/recorded/apt-kernel/${suite}.Release-head`), 'utf8');

describe('Debian Release files', () => {
  test('testing, unstable and backports name their suite and codename', () => {
    expect(parseRelease(head('testing'))).toEqual({ suite: 'testing', codename: 'forky' });
    expect(parseRelease(head('sid'))).toEqual({ suite: 'unstable', codename: 'sid' });
    expect(parseRelease(head('trixie-backports'))).toEqual({ suite: 'stable-backports', codename: 'trixie-backports' });
  });

  test('something that is no Release file gives nothing', () => {
    expect(parseRelease('<html>404 Not Found</html>')).toBeUndefined();
    expect(parseRelease('')).toBeUndefined();
  });
});
