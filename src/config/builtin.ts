import type { ImageSpec } from './schema.ts';

/** The packages every built-in Debian node image carries. */
export const NODE_IMAGE_PACKAGES = ['criu', 'iptables', 'iproute2', 'procps'];

/**
 * What a node that runs containers adds: Debian's runtimes, podman with its
 * monitor, network stack (debootstrap does not pick a provider for the virtual
 * container-network-stack by itself) and init, and tar for checkpoint archives.
 */
export const CONTAINER_PACKAGES = ['runc', 'crun', 'podman', 'conmon', 'netavark', 'catatonit', 'tar'];

/**
 * What a Kubernetes-style node adds for the cri suite: containerd (its CRI
 * plugin), runc, the CNI plugins (bridge, host-local, loopback), iptables for
 * the bridge plugin's rules and CRIU's network lock, and tar for checkpoint
 * archives. No pause image: the harness builds its own.
 */
export const CONTAINERD_PACKAGES = ['containerd', 'runc', 'containernetworking-plugins', 'tar'];

/** Node images any config may name without defining them. */
export const BUILTIN_IMAGES: Record<string, ImageSpec> = {
  'debian-bullseye': {
    debootstrap: { suite: 'bullseye', include: NODE_IMAGE_PACKAGES },
    description: 'Debian 11: CRIU 3.15, glibc 2.31',
  },
  'debian-bookworm': {
    debootstrap: { suite: 'bookworm', include: NODE_IMAGE_PACKAGES },
    description: 'Debian 12: CRIU 3.17.1, glibc 2.36',
  },
  'debian-trixie': {
    debootstrap: { suite: 'trixie', include: NODE_IMAGE_PACKAGES },
    description: 'Debian 13: CRIU 4.1.1, glibc 2.41',
  },
  'debian-sid': {
    debootstrap: { suite: 'sid', include: NODE_IMAGE_PACKAGES },
    description: 'Debian unstable: the newest CRIU Debian has (4.2.1 when this was written), glibc 2.42',
  },
  'debian-bookworm-containers': {
    debootstrap: { suite: 'bookworm', include: [...NODE_IMAGE_PACKAGES, ...CONTAINER_PACKAGES] },
    description: 'Debian 12 with its container runtimes: CRIU 3.17.1, runc 1.1.5, crun 1.8.1, podman 4.3.1',
  },
  'debian-trixie-containers': {
    debootstrap: { suite: 'trixie', include: [...NODE_IMAGE_PACKAGES, ...CONTAINER_PACKAGES, 'libcriu2'] },
    description: 'Debian 13 with its container runtimes: CRIU 4.1.1, runc 1.1.15, crun 1.21, podman 5.4',
  },
  'debian-sid-containers': {
    debootstrap: { suite: 'sid', include: [...NODE_IMAGE_PACKAGES, ...CONTAINER_PACKAGES, 'libcriu2'] },
    description: 'Debian unstable with its container runtimes (when this was written: CRIU 4.2.1, runc 1.3.6, crun 1.28, podman 5.8.6)',
  },
  'debian-trixie-containerd': {
    debootstrap: { suite: 'trixie', include: [...NODE_IMAGE_PACKAGES, ...CONTAINERD_PACKAGES] },
    description: 'Debian 13 as a containerd node: containerd 1.7.24, runc 1.1.15, CNI plugins 1.1.1, CRIU 4.1.1',
  },
  'debian-sid-containerd': {
    debootstrap: { suite: 'sid', include: [...NODE_IMAGE_PACKAGES, ...CONTAINERD_PACKAGES] },
    description: 'Debian unstable as a containerd node (when this was written: containerd 2.1.9, runc 1.3.6, CNI plugins 1.9.1, CRIU 4.2.1)',
  },
};
