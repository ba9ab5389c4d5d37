/**
 * The embedded default: what `criu-compat run` checks when no config is
 * given. Two node images on the host kernel, plus the trixie image with a
 * documented CRIU workaround, so that a host whose hypervisor does not
 * virtualize debug registers shows both the failure and whether the
 * workaround holds.
 */
export const DEFAULT_CONFIG_TEXT = `# criu-compat embedded default
pools:
  - name: host-bookworm
    description: Debian 12 node image (CRIU 3.17.1) on this machine's kernel
    kernel: host
    image: debian-bookworm
  - name: host-trixie
    description: Debian 13 node image (CRIU 4.1.1) on this machine's kernel
    kernel: host
    image: debian-trixie
  - name: host-trixie-nobp
    description: >-
      As host-trixie, with CRIU told not to use hardware breakpoints
      (CRIU_FAULT=130), the stopgap for hypervisors without debug registers
    kernel: host
    image: debian-trixie
    criu:
      env:
        CRIU_FAULT: "130"
`;
export const DEFAULT_CONFIG_NAME = '(embedded default)';
