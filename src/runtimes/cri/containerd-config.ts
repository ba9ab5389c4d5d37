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
  /** containerd's registry host configuration (hosts.toml per registry). */
  certsD: string;
  /** What the node's registry serves. */
  registry: string;
  /** The CRIU configuration file the containers name (CRIU_CONFIG_ANNOTATION). */
  criuConfig: string;
  /** CRIU's log of the node's last checkpoint or restore (the configuration file's log-file). */
  criuLog: string;
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
    certsD: `${dir}/certs.d`,
    registry: `${dir}/registry`,
    criuConfig: `${dir}/criu-runc.conf`,
    criuLog: `${dir}/criu-last.log`,
  };
}

/** The image name the sandbox (pause) image is imported under. */
export const PAUSE_IMAGE = 'localhost/criu-compat/pause:1';
/** The node's own registry (cc-registry on its loopback), which serves the workload image it built. */
export const REGISTRY = 'localhost:5000';
/** The workload image's repository in it, and its name (static binaries under /cc). */
export const WORKLOAD_REPO = 'criu-compat/workload';
export const WORKLOAD_IMAGE = `${REGISTRY}/${WORKLOAD_REPO}:1`;
/**
 * runc's per-container CRIU configuration file (a path in the node): CRI has
 * no field for CRIU options, so a pod that holds TCP connections or file
 * locks gets them this way. containerd passes the annotation to the OCI spec
 * only when the runtime's container_annotations lists it.
 */
export const CRIU_CONFIG_ANNOTATION = 'org.criu.config';
/**
 * What that file says for the suite's containers (CRIU's config file syntax:
 * one long option a line; its options override runc's). log-file: runc's
 * restore error names no log ("criu failed: type RESTORE errno 0") and the
 * shim removes its work directory with the failed task, so CRIU logs where
 * the harness can read it after a failure (one CRIU run at a time per node:
 * the cells of a node run one after another).
 */
export function criuConfig(layout: Pick<ContainerdLayout, 'criuLog'>): string {
  return `tcp-established\nfile-locks\nlog-file ${layout.criuLog}\n`;
}

/** The TCP port containerd serves CRI on in a node the host reaches over the run's network (a VM). */
export const CRI_TCP_PORT = 10010;

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
  /**
   * Also serve gRPC, CRI included, on this TCP address ("10.1.2.3:10010"):
   * a node whose socket the host cannot reach (a VM) is spoken to over the
   * run's network. The CRI plugin stays off containerd's TCP server otherwise
   * (its disable_tcp_service defaults to true).
   */
  tcpAddress?: string;
}

const q = (s: string) => JSON.stringify(s);

export function containerdConfig(o: ConfigOptions): string {
  const l = o.layout;
  const tcp = o.tcpAddress ? [`  tcp_address = ${q(o.tcpAddress)}`] : [];
  const head = [`root = ${q(l.root)}`, `state = ${q(l.state)}`, '', '[grpc]', `  address = ${q(l.socket)}`, ...tcp, '', '[ttrpc]', `  address = ${q(`${l.socket}.ttrpc`)}`, ''];
  const tcpService = o.tcpAddress ? ['  disable_tcp_service = false'] : [];
  if (o.major < 2) {
    const cri = `[plugins."io.containerd.grpc.v1.cri"]`;
    return [
      'version = 2',
      ...head,
      cri,
      `  sandbox_image = ${q(PAUSE_IMAGE)}`,
      ...tcpService,
      '  enable_cdi = false',
      '  restrict_oom_score_adj = true',
      `${cri.slice(0, -1)}.containerd]`,
      `  snapshotter = ${q(o.snapshotter)}`,
      '  default_runtime_name = "runc"',
      `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `  container_annotations = [${q(CRIU_CONFIG_ANNOTATION)}]`,
      `${cri.slice(0, -1)}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = false',
      `${cri.slice(0, -1)}.cni]`,
      `  bin_dir = ${q(CNI_BIN_DIR)}`,
      `  conf_dir = ${q(l.cniConf)}`,
      `${cri.slice(0, -1)}.registry]`,
      `  config_path = ${q(l.certsD)}`,
      '',
    ].join('\n');
  }
  return [
    'version = 3',
    ...head,
    ...(o.tcpAddress ? [`[plugins."io.containerd.grpc.v1.cri"]`, ...tcpService] : []),
    `[plugins."io.containerd.cri.v1.images"]`,
    `  snapshotter = ${q(o.snapshotter)}`,
    `[plugins."io.containerd.cri.v1.images".registry]`,
    `  config_path = ${q(l.certsD)}`,
    `[plugins."io.containerd.cri.v1.images".pinned_images]`,
    `  sandbox = ${q(PAUSE_IMAGE)}`,
    `[plugins."io.containerd.cri.v1.runtime"]`,
    '  enable_cdi = false',
    '  restrict_oom_score_adj = true',
    `[plugins."io.containerd.cri.v1.runtime".containerd]`,
    '  default_runtime_name = "runc"',
    `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `  container_annotations = [${q(CRIU_CONFIG_ANNOTATION)}]`,
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

/** The node's registry is plain HTTP on its loopback (containerd's hosts.toml for it). */
export function registryHosts(): string {
  return [`server = "http://${REGISTRY}"`, '', `[host."http://${REGISTRY}"]`, '  capabilities = ["pull", "resolve"]', '  skip_verify = true', ''].join('\n');
}

/** "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1" → "1.7.24". */
export function parseContainerdVersion(out: string): string | undefined {
  return /^containerd\s+\S+\s+v?(\d+\.\d+\.\d+)/m.exec(out)?.[1];
}
