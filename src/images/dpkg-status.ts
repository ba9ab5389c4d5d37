/** Installed package versions from a rootfs's var/lib/dpkg/status. */
export function parseDpkgStatus(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const stanza of text.split(/\n\n+/)) {
    const pkg = /^Package: (.+)$/m.exec(stanza)?.[1];
    const ver = /^Version: (.+)$/m.exec(stanza)?.[1];
    const status = /^Status: (.+)$/m.exec(stanza)?.[1] ?? '';
    if (pkg && ver && status.endsWith(' installed')) out[pkg] = ver;
  }
  return out;
}

/** os-release as a map (PRETTY_NAME, VERSION_CODENAME, …). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}
