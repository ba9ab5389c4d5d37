/**
 * containerd's configuration for a node of the cri suite: everything under
 * one directory of the environment's work directory (root, state, the gRPC
 * socket, CNI config and IPAM state, pod logs), the CRI plugin on runc with
 * cgroupfs, a bridge CNI network in the node's own network namespace, and the
 * harness's own pause image as sandbox image. restrict_oom_score_adj: a
 * sandbox's oom_score_adj (-998) is kept no lower than containerd's own, as
 * for a containerd without CAP_SYS_RESOURCE (this machine's root lacks it). containerd 1.x reads config
 * version 2, 2.x version 3 (its CRI plugin split into images and runtime).
 */

/** Where a node's containerd keeps everything (inside the environment). */
export interface ContainerdLayout {
  /** The directory that holds all of it (under the environment's work directory). */
  dir: string;
  root: string;
  state: string;
  socket: string;
  config: string;
  cniConf: string;
  ipam: string;
  logs: string;
  /** containerd's own stdout+stderr. */
  log: string;
}

export function containerdLayout(dir: string): ContainerdLayout {
  return {
    dir,
    root: `${dir}/root`,
    state: `${dir}/state`,
    socket: `${dir}/c.sock`,
    config: `${dir}/config.toml`,
    cniConf: `${dir}/cni`,
    ipam: `${dir}/ipam`,
    logs: `${dir}/pods`,
    log: `${dir}/containerd.log`,
  };
}

/** The image name the sandbox (pause) image is imported under. */
export const PAUSE_IMAGE = 'localhost/criu-compat/pause:1';
/** The image name of the workload image (static binaries under /cc). */
export const WORKLOAD_IMAGE = 'localhost/criu-compat/workload:1';
/** Debian's containernetworking-plugins install here. */
export const CNI_BIN_DIR = '/usr/lib/cni';
/** The pod network of a node (its own network namespace: another node may use the same). */
export const POD_SUBNET = '10.88.0.0/24';

export interface ConfigOptions {
  /** containerd's major version (1 or 2…). */
  major: number;
  layout: ContainerdLayout;
  /** The snapshotter of the CRI plugin (overlayfs or native). */
  snapshotter: string;
}

const q = (s: string) => JSON.stringify(s);

export function containerdConfig(o: ConfigOptions): string {
  const l = o.layout;
  const head = [`root = ${q(l.root)}`, `state = ${q(l.state)}`, '', '[grpc]', `  address = ${q(l.socket)}`, '', '[ttrpc]', `  address = ${q(`${l.socket}.ttrpc`)}`, ''];
  if (o.major < 2) {
    const cri = `[plugins."io.containerd.grpc.v1.cri"]`;
    return [
      'version = 2',
      ...head,
      cri,
      `  sandbox_image = ${q(PAUSE_IMAGE)}`,
      '  enable_cdi = false',
      '  restrict_oom_score_adj = true',
      `${cri.slice(0, -1)}.containerd]`,
      `  snapshotter = ${q(o.snapshotter)}`,
      '  default_runtime_name = "runc"',
      `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `${cri.slice(0, -1)}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = false',
      `${cri.slice(0, -1)}.cni]`,
      `  bin_dir = ${q(CNI_BIN_DIR)}`,
      `  conf_dir = ${q(l.cniConf)}`,
      '',
    ].join('\n');
  }
  return [
    'version = 3',
    ...head,
    `[plugins."io.containerd.cri.v1.images"]`,
    `  snapshotter = ${q(o.snapshotter)}`,
    `[plugins."io.containerd.cri.v1.images".pinned_images]`,
    `  sandbox = ${q(PAUSE_IMAGE)}`,
    `[plugins."io.containerd.cri.v1.runtime"]`,
    '  enable_cdi = false',
    '  restrict_oom_score_adj = true',
    `[plugins."io.containerd.cri.v1.runtime".containerd]`,
    '  default_runtime_name = "runc"',
    `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `[plugins."io.containerd.cri.v1.runtime".cni]`,
    `  bin_dirs = [${q(CNI_BIN_DIR)}]`,
    `  conf_dir = ${q(l.cniConf)}`,
    '',
  ].join('\n');
}

/** The pod network (containerd brings each pod's loopback up itself): a bridge (no NAT, no port mapping: nothing touches the host) with host-local addresses kept in the work directory. */
export function cniConfList(layout: ContainerdLayout): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'cc-pods',
      plugins: [
        { type: 'bridge', bridge: 'cc-cni0', isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: layout.ipam } }
      ],
    },
    null,
    1,
  );
}

/** "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1" → "1.7.24". */
export function parseContainerdVersion(out: string): string | undefined {
  return /^containerd\s+\S+\s+v?(\d+\.\d+\.\d+)/m.exec(out)?.[1];
}
