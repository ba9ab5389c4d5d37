/**
 * The OCI runtime spec (config.json) of a workload container: the workload
 * rootfs (static binaries under /cc, nothing else), its own PID, mount, IPC
 * and UTS namespaces, the node's network namespace (as hostNetwork pods do,
 * so loopback TCP needs no CNI), a cgroup under the harness's own parent so
 * that teardown can find it, and the default capability set a runtime gives.
 */
export interface BundleSpec {
  args: string[];
  env: Record<string, string>;
  /** cgroupsPath: "/criu-compat/…" (cgroupfs) — teardown removes what is left under /criu-compat. */
  cgroupsPath: string;
  hostname?: string;
  /** The root filesystem: absolute (a directory the container shares with its restores), else the bundle's rootfs/. */
  rootPath?: string;
  /** The process's user (default root). */
  user?: { uid: number; gid: number };
  annotations?: Record<string, string>;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export function ociConfig(b: BundleSpec): object {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: b.user ?? { uid: 0, gid: 0 },
      args: b.args,
      env: [...('PATH' in b.env ? [] : ['PATH=/cc:/usr/bin:/bin']), ...Object.entries(b.env).map(([k, v]) => `${k}=${v}`)],
      cwd: '/',
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS, ambient: DEFAULT_CAPS },
      noNewPrivileges: true,
    },
    root: { path: b.rootPath ?? 'rootfs', readonly: false },
    hostname: b.hostname ?? 'cc-workload',
    ...(b.annotations ? { annotations: b.annotations } : {}),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      cgroupsPath: b.cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
