/** Parses `criu --version` output: "Version: 4.1.1" (GitID line optional). */
export function parseCriuVersion(text: string): string | undefined {
  return /^Version:\s*(\S+)/m.exec(text)?.[1];
}

/**
 * The feature names this CRIU build knows, from `criu --help`: the list
 * after "--feature FEAT ... one of:", comma separated over several lines.
 */
export function parseFeatureList(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => /^\s*--feature FEAT\b/.test(l));
  if (start < 0) return [];
  const names: string[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (!/^\s{8,}\S/.test(l) || /^\s*--/.test(l)) break;
    for (const n of l.split(','))
      if (/^[a-z0-9_-]+$/.test(n.trim())) names.push(n.trim());
  }
  return names;
}
