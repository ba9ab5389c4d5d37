/**
 * The project's files name no package-mirror host: tests use a placeholder host
 * of their own (an .invalid name), recorded fixtures are scrubbed, and the
 * workflow takes the mirror from a repository variable. The mirror a run uses
 * comes from --mirror, $CRIU_COMPAT_MIRROR or the machine's own apt sources.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Host names of package archives and their mirrors: Debian's, Ubuntu's, mirror(s) or deb hosts under .com/.org/.net, ftp hosts of Debian. */
const MIRROR_HOST = [
  /\b(?:[a-z0-9-]+\.)*debian\.(?:org|net)\b/i,
  /\b(?:[a-z0-9-]+\.)*ubuntu\.com\b/i,
  /\bftp\.[a-z0-9.-]*debian/i,
  /\bmirrors?\.[a-z0-9-]+\.(?:com|org|net)\b/i,
  /\bdeb\.[a-z0-9-]+\.(?:com|org|net|io)\b/i,
];

/** A URL of an apt archive (path /debian, /ubuntu, …-security, …-ports) on any host but a placeholder one. */
const ARCHIVE_URL = /\bhttps?:\/\/(?![a-z0-9.-]*\.invalid[:/])[a-z0-9.-]+(?::\d+)?\/(?:debian|ubuntu)(?:-security|-ports)?(?:\/|\b)/i;

/** "LINE: what matched", the first match of each line. */
function mirrorHostsIn(text: string): string[] {
  const found: string[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const m = [...MIRROR_HOST, ARCHIVE_URL].map((re) => re.exec(line)).find(Boolean);
    if (m) found.push(`${i + 1}: ${m[0]}`);
  }
  return found;
}

describe('no package-mirror host in the project', () => {
  test('the patterns find real hosts and archive URLs, and leave placeholders alone', () => {
    // Built from parts so that this file names no host itself.
    const host = (...parts: string[]) => parts.join('.');
    for (const h of ['deb', 'security', 'ftp.de', 'snapshot']) expect(mirrorHostsIn(`URIs: http://${host(h, 'debian', 'org')}/debian`), h).not.toEqual([]);
    expect(mirrorHostsIn(`deb http://${host('archive', 'ubuntu', 'com')}/ubuntu noble main`)).not.toEqual([]);
    expect(mirrorHostsIn(`mirror: https://${host('mirror', 'example', 'org')}/debian`)).not.toEqual([]);
    expect(mirrorHostsIn(`deb http://${host('10', '0', '0', '7')}:3142/debian bookworm main`)).not.toEqual([]);
    expect(mirrorHostsIn('deb [arch=amd64] http://mirror.example.invalid/debian/ bookworm main')).toEqual([]);
    expect(mirrorHostsIn('"mirror": "http://mirror.example.invalid/debian"')).toEqual([]);
    expect(mirrorHostsIn('kernel: debian/bookworm; image: debian-trixie; /usr/share/keyrings/debian-archive-keyring.gpg')).toEqual([]);
  });

  test('no tracked file names one', () => {
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    expect(files.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, f), 'utf8');
      } catch {
        continue; // listed but deleted in the work tree
      }
      if (text.includes('\0')) continue; // binary
      for (const hit of mirrorHostsIn(text)) found.push(`${f}:${hit}`);
    }
    expect(found, 'use a placeholder host (mirror.example.invalid) or the repository variable CRIU_COMPAT_MIRROR').toEqual([]);
  });
});
