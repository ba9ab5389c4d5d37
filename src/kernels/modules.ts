/**
 * Kernel module selection from modules.dep (as depmod writes it:
 * "kernel/path/mod.ko[.xz]: dep.ko[.xz] ..." with paths relative to
 * lib/modules/RELEASE).
 */

/** The modules a CRIU guest needs: the exec channel, socket diag, netfilter for the network lock, tun/veth, fs probes. */
export const CRIU_GUEST_MODULES = [
  // exec channel (virtio-serial); built in on newer kernels, modules on older ones
  'virtio_pci',
  'virtio_console',
  // the node network's NIC (virtio-net on a host bridge): page server, lazy pages, migrations
  'virtio_net',
  // CRIU's socket dumping needs the diag modules
  'netlink_diag',
  'af_packet_diag',
  'unix_diag',
  'inet_diag',
  'tcp_diag',
  'udp_diag',
  'raw_diag',
  // network lock (nftables or iptables-nft / iptables-legacy) and kerndat probes;
  // libcrc32c (nf_tables, nf_conntrack) asks the crypto API for crc32c at init,
  // and the guest has no modprobe to autoload it: load an implementation first
  'crc32c_generic',
  'crc32c_intel',
  'nf_tables',
  'nft_compat',
  'nft_ct',
  'nft_chain_nat',
  'nft_nat',
  'nft_reject_inet',
  'nf_conntrack',
  // CRIU dumps a network namespace's conntrack entries over ctnetlink (podman's per-container netns);
  // without it the kernel answers EINVAL ("-22 reported by netlink") and the dump fails
  'nf_conntrack_netlink',
  'nf_nat',
  'x_tables',
  'xt_mark',
  'xt_conntrack',
  'xt_tcpudp',
  'xt_comment',
  'ip_tables',
  'iptable_filter',
  'iptable_nat',
  'ip6_tables',
  'ip6table_filter',
  // devices and file systems CRIU probes or restores
  'tun',
  'veth',
  // podman's bridge network (netavark: a bridge and a veth pair per container)
  'bridge',
  'macvlan',
  'overlay',
  'autofs4',
  'autofs',
  'binfmt_misc',
] as const;

export interface ModuleSelection {
  /** Paths relative to the modules directory, in load order (dependencies first). */
  load: string[];
  /** Wanted names this kernel does not have as modules (built in, or absent). */
  notModules: string[];
}

export function moduleName(path: string): string {
  return path
    .split('/')
    .pop()!
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replace(/-/g, '_');
}

export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const path = line.slice(0, i).trim();
    const deps = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    out.set(moduleName(path), { path, deps });
  }
  return out;
}

/** Resolves wanted module names to files in load order, each dependency before its users. */
export function selectModules(dep: Map<string, { path: string; deps: string[] }>, wanted: readonly string[]): ModuleSelection {
  const load: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (path: string) => {
    const name = moduleName(path);
    if (done.has(name) || visiting.has(name)) return;
    visiting.add(name);
    for (const d of dep.get(name)?.deps ?? []) visit(d);
    visiting.delete(name);
    done.add(name);
    load.push(dep.get(name)?.path ?? path);
  };
  const notModules: string[] = [];
  for (const w of wanted) {
    const entry = dep.get(w.replace(/-/g, '_'));
    if (entry) visit(entry.path);
    else notModules.push(w);
  }
  return { load, notModules };
}
