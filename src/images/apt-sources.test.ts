import { describe, expect, test } from 'vitest';
import { parseAptSources, pickDebianMirror } from './apt-sources.ts';

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`;

describe('apt sources', () => {
  test('deb822 .sources (as on this machine kind)', () => {
    const s = parseAptSources(DEB822, '/etc/apt/sources.list.d/debian.sources');
    expect(s.map((x) => x.uri)).toEqual(['http://deb.debian.org/debian', 'http://deb.debian.org/debian-security']);
    expect(pickDebianMirror(s)).toBe('http://deb.debian.org/debian');
  });

  test('one-line format, skipping security, third-party and disabled entries', () => {
    const s = parseAptSources(
      [
        '# deb http://old.example/debian bookworm main',
        'deb https://packages.example.com/apt cloud-sdk-bookworm main',
        'deb http://security.debian.org/debian-security bookworm-security main',
        'deb [arch=amd64 signed-by=/k.gpg] http://mirror.example.org/debian/ bookworm main',
      ].join('\n'),
      '/etc/apt/sources.list',
    );
    expect(pickDebianMirror(s)).toBe('http://mirror.example.org/debian');
  });

  test('no Debian mirror gives undefined', () => {
    expect(pickDebianMirror(parseAptSources('deb https://deb.nodesource.com/node_20.x nodistro main', 'x.list'))).toBeUndefined();
  });
});
