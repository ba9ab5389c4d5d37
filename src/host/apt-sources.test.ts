import { describe, expect, test } from 'vitest';
import { parseAptSources, pickDebianMirror } from './apt-sources.ts';

const DEB822 = `Types: deb
# http://snapshot.example.invalid/archive/debian/20250520T000000Z
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.invalid/debian-security
Suites: bookworm-security
Components: main
`;

describe('apt sources', () => {
  test('deb822 .sources (the layout of a Debian 12+ machine)', () => {
    const s = parseAptSources(DEB822, '/etc/apt/sources.list.d/debian.sources');
    expect(s.map((x) => x.uri)).toEqual(['http://mirror.example.invalid/debian', 'http://mirror.example.invalid/debian-security']);
    expect(pickDebianMirror(s)).toBe('http://mirror.example.invalid/debian');
  });

  test('one-line format, skipping security, third-party and disabled entries', () => {
    const s = parseAptSources(
      [
        '# deb http://old.example.invalid/debian bookworm main',
        'deb https://packages.example.invalid/apt cloud-sdk-bookworm main',
        'deb http://security.example.invalid/debian-security bookworm-security main',
        'deb [arch=amd64 signed-by=/k.gpg] http://mirror2.example.invalid/debian/ bookworm main',
      ].join('\n'),
      '/etc/apt/sources.list',
    );
    expect(pickDebianMirror(s)).toBe('http://mirror2.example.invalid/debian');
  });

  test('no Debian mirror gives undefined', () => {
    expect(pickDebianMirror(parseAptSources('deb https://apt.example.invalid/node_20.x nodistro main', 'x.list'))).toBeUndefined();
  });
});
