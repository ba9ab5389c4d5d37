import type { ImageSpec } from './schema.ts';

/** The packages every built-in Debian node image carries. */
export const NODE_IMAGE_PACKAGES = ['criu', 'iptables', 'iproute2', 'procps'];

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
};
