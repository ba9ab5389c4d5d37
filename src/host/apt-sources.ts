import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface AptSource {
  uri: string;
  suites: string[];
  file: string;
}

/** Parses one-line ("deb [opts] URI SUITE COMPONENTS") and deb822 (.sources) entries. */
export function parseAptSources(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  if (file.endsWith('.sources')) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const fields: Record<string, string> = {};
      let last = '';
      for (const line of stanza.split('\n')) {
        if (line.startsWith('#')) continue;
        if (/^\s/.test(line) && last) {
          fields[last] += ` ${line.trim()}`;
          continue;
        }
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) fields[(last = m[1]!.toLowerCase())] = m[2]!.trim();
      }
      if (!(fields.types ?? '').split(/\s+/).includes('deb') || (fields.enabled ?? 'yes') === 'no') continue;
      for (const uri of (fields.uris ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suites: (fields.suites ?? '').split(/\s+/).filter(Boolean), file });
    }
    return out;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ uri: m[1]!, suites: [m[2]!], file });
  }
  return out;
}

const DEBIAN_CODENAMES = /^(buster|bullseye|bookworm|trixie|forky|duke|sid|stable|oldstable|testing|unstable)(-updates|-backports)?$/;

/** The Debian archive mirror that this machine's apt sources name (not the security archive). */
export function pickDebianMirror(sources: AptSource[]): string | undefined {
  for (const s of sources) {
    if (/security/.test(s.uri)) continue;
    if (!/^https?:\/\//.test(s.uri)) continue;
    if (s.suites.some((x) => DEBIAN_CODENAMES.test(x)) && /\/debian\/?$/.test(s.uri)) return s.uri.replace(/\/$/, '');
  }
  return undefined;
}

export async function readAptSources(root = '/etc/apt'): Promise<AptSource[]> {
  const files = [join(root, 'sources.list')];
  try {
    for (const f of (await readdir(join(root, 'sources.list.d'))).sort())
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(root, 'sources.list.d', f));
  } catch {
    /* no sources.list.d */
  }
  const out: AptSource[] = [];
  for (const f of files) {
    try {
      out.push(...parseAptSources(await readFile(f, 'utf8'), f));
    } catch {
      /* unreadable or absent */
    }
  }
  return out;
}
