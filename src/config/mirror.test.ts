import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { checkMirrorInputs, mirrorUrlProblem } from './mirror.ts';

describe('--mirror and $CRIU_COMPAT_MIRROR are checked up front', () => {
  test('http, https, ftp and file URLs are mirrors; anything else is not', () => {
    for (const ok of ['http://mirror.example.invalid/debian', 'https://u:p@mirror.example.invalid/debian?token=x', 'file:///srv/mirror', 'ftp://mirror.example.invalid/debian'])
      expect(mirrorUrlProblem(ok), ok).toBeUndefined();
    expect(mirrorUrlProblem('mirror.example.invalid/debian')).toBe('not a URL');
    expect(mirrorUrlProblem('ssh://mirror.example.invalid/debian')).toMatch(/scheme "ssh"/);
    expect(mirrorUrlProblem('https://')).toBe('not a URL');
  });

  test('a bad value is one line that masks credentials and escapes control characters', () => {
    expect(() => checkMirrorInputs('user:s3cret@mirror.example.invalid/debian', undefined)).toThrow(/^--mirror takes a Debian mirror URL .*got "\*\*\*@mirror\.example\.invalid\/debian": scheme "user" is not/);
    expect(() => checkMirrorInputs(undefined, 'gopher://user:s3cret@mirror.example.invalid/?token=t0k\x1b[2J')).toThrow(/^\$CRIU_COMPAT_MIRROR takes .*got "gopher:\/\/\*\*\*@mirror\.example\.invalid\/\?token=\*\*\*": scheme "gopher"/);
    try {
      checkMirrorInputs('ftp ://user:s3cret@x/?token=t0k\x1b[2J', undefined);
    } catch (e) {
      expect((e as Error).message).not.toMatch(/s3cret|t0k|[\x00-\x1f]/);
    }
    expect(() => checkMirrorInputs('http://mirror.example.invalid/debian', '')).not.toThrow();
  });

  test('debootstrap.mirror in a config is held to the same rule, at its path and line', () => {
    const text = 'images:\n  x:\n    debootstrap: {suite: trixie, mirror: "ssh://user:s3cret@mirror.example.invalid/debian"}\npools:\n  - {name: a, kernel: host, image: x}\n';
    let err: unknown;
    try {
      parseConfig(text, 'pools.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ path: 'images.x.debootstrap.mirror', line: 3, expected: 'a Debian mirror URL (http://, https://, ftp:// or file://)' });
    expect((err as Error).message).not.toMatch(/s3cret/);
  });
});
