import { describe, expect, test } from 'vitest';
import { parseDpkgStatus, parseOsRelease } from './dpkg-status.ts';

describe('dpkg status and os-release', () => {
  test('only installed packages, with versions', () => {
    const status = [
      'Package: criu\nStatus: install ok installed\nVersion: 4.1.1-1\n',
      'Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n',
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.41-12+deb13u5\n',
    ].join('\n');
    expect(parseDpkgStatus(status)).toEqual({ criu: '4.1.1-1', libc6: '2.41-12+deb13u5' });
  });

  test('os-release values, quoted or not', () => {
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')).toEqual({ PRETTY_NAME: 'Debian GNU/Linux 13 (trixie)', VERSION_CODENAME: 'trixie' });
  });
});
