import { describe, expect, test } from 'vitest';
import { escapeControl } from './escape.ts';
import { redactDeep, redactUrl, redactUrlsIn } from './redact.ts';

const SECRET_URL = 'https://user:s3cret@mirror.example.invalid/debian?token=t0ken-abc&arch=amd64';

describe('redaction of credentials in URLs', () => {
  test('user info and query values are masked, the rest is kept as given', () => {
    expect(redactUrl(SECRET_URL)).toBe('https://***@mirror.example.invalid/debian?token=***&arch=***');
    expect(redactUrl('http://mirror.example.invalid/debian')).toBe('http://mirror.example.invalid/debian');
    expect(redactUrl('http://token@mirror.example.invalid:8080/debian#x')).toBe('http://***@mirror.example.invalid:8080/debian#x');
    expect(redactUrl('file:///srv/mirror')).toBe('file:///srv/mirror');
    // A password with an unencoded "/" or "@" is masked whole.
    expect(redactUrl('https://u:pa/ss@w@mirror.example.invalid/debian')).toBe('https://***@mirror.example.invalid/debian');
    expect(redactUrl(redactUrl(SECRET_URL))).toBe(redactUrl(SECRET_URL));
  });

  test('URLs inside free text (apt and debootstrap errors) and deep inside results', () => {
    const msg = `E: Failed getting release file ${SECRET_URL}/dists/trixie/Release (exit 1)`;
    expect(redactUrlsIn(msg)).toBe('E: Failed getting release file https://***@mirror.example.invalid/debian?token=***&arch=*** (exit 1)');
    const deep = redactDeep({ a: [{ mirror: SECRET_URL }, 3, null], b: `from ${SECRET_URL}`, n: 1 });
    expect(JSON.stringify(deep)).not.toMatch(/s3cret|t0ken-abc/);
    expect(deep.a[1]).toBe(3);
    expect(deep.n).toBe(1);
  });
});

describe('control characters from a file are never printed raw', () => {
  test('ESC, newline, NUL, DEL, 8-bit CSI and bidi overrides are escaped; ordinary text is kept', () => {
    expect(escapeControl('a\x1b[31mred\x1b[0m')).toBe('a\\x1b[31mred\\x1b[0m');
    expect(escapeControl('one\ntwo\r\0\x7f\x9b\u202e')).toBe('one\\x0atwo\\x0d\\x00\\x7f\\x9b\\u{202e}');
    expect(escapeControl('pools[0].kernel: ünïcode ✓')).toBe('pools[0].kernel: ünïcode ✓');
  });
});
