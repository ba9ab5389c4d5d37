/**
 * Which Debian packages make up a kernel. Older suites ship one
 * linux-image-RELEASE package with boot/vmlinuz-RELEASE and the modules;
 * newer ones (sid, forky, trixie-backports 7.x) make linux-image-RELEASE a
 * small package that depends on linux-binary-RELEASE (vmlinuz under
 * usr/lib/modules/RELEASE/), linux-modules-RELEASE (the modules) and
 * linux-base-RELEASE (config, modules.builtin, modules.order). Following
 * Depends from the named package finds them all.
 */

/** One package stanza as apt knows it. */
export interface AptPackage {
  name: string;
  version: string;
  sha256: string;
  size: number;
  depends: string;
}

/** A package a kernel is made of: any linux-image-*, linux-binary-*, linux-modules-* or linux-base-* (not the linux-base tool package). */
const KERNEL_PART = /^linux-(image|binary|modules|base)-/;
/** A part for one kernel release (linux-modules-7.2.13+deb14-amd64), not a flavour metapackage (linux-modules-amd64). */
const RELEASE_PART = /^linux-(image|binary|modules|base)-\d/;

/** Parses apt-cache show output (or a Packages file): one AptPackage per stanza, in order. */
export function parseStanzas(text: string): AptPackage[] {
  const out: AptPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? '';
    if (!field('Package')) continue;
    out.push({ name: field('Package'), version: field('Version'), sha256: field('SHA256'), size: Number(field('Size')) || 0, depends: field('Depends') });
  }
  return out;
}

export interface Dependency {
  name: string;
  /** The exact version when the relation is "(= VERSION)". */
  exact?: string;
}

/** A Depends field as groups of alternatives ("a | b (>= 1), c (= 2)"); architecture qualifiers are dropped. */
export function parseDepends(field: string): Dependency[][] {
  return field
    .split(',')
    .map((group) =>
      group
        .split('|')
        .map((alt) => /^\s*([a-z0-9][a-z0-9.+-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?/.exec(alt))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => (m[2] === '=' ? { name: m[1]!, exact: m[3]! } : { name: m[1]! })),
    )
    .filter((g) => g.length > 0);
}

export type PackageLookup = (name: string, exactVersion?: string) => Promise<AptPackage>;

export interface KernelPackages {
  /** The package the config named (or linux-image-amd64). */
  root: AptPackage;
  /** What to download and unpack into one tree, by name: the release's image, binary, modules and base packages. */
  parts: AptPackage[];
}

/**
 * Follows Depends from ROOT through kernel-part names only (linux-image-*,
 * linux-binary-*, linux-modules-*, linux-base-*; of alternatives the first
 * such), and returns the parts of one release to unpack. Flavour
 * metapackages (linux-image-amd64, linux-modules-amd64) are followed but
 * not unpacked; a root that is no release part itself and leads to none is
 * unpacked as it is.
 */
export async function kernelPackages(rootName: string, lookup: PackageLookup): Promise<KernelPackages> {
  const root = await lookup(rootName);
  const seen = new Map<string, AptPackage>([[root.name, root]]);
  const queue = [root];
  while (queue.length) {
    const pkg = queue.shift()!;
    for (const group of parseDepends(pkg.depends)) {
      const dep = group.find((d) => KERNEL_PART.test(d.name));
      if (!dep || seen.has(dep.name)) continue;
      const next = await lookup(dep.name, dep.exact);
      seen.set(dep.name, next);
      queue.push(next);
    }
  }
  const parts = [...seen.values()].filter((p) => RELEASE_PART.test(p.name)).sort((a, b) => a.name.localeCompare(b.name));
  return { root, parts: parts.length ? parts : [root] };
}

/** What a kernel's cache key is made of: the SHA256 of each part (one part: as the key always was). */
export function partsKeyInput(parts: readonly AptPackage[]): string | string[] {
  const ids = parts.map((p) => p.sha256 || `${p.name}=${p.version}`);
  return ids.length === 1 ? ids[0]! : ids;
}

/** The part that names the kernel (linux-image-RELEASE), else the first. */
export function mainPart(parts: readonly AptPackage[]): AptPackage {
  return parts.find((p) => /^linux-image-/.test(p.name)) ?? parts[0]!;
}
