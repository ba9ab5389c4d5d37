/**
 * The embedded default: what `criu-compat run` checks when no config is
 * given. Two node images on the host kernel, plus the trixie image with a
 * documented CRIU workaround, so that a host whose hypervisor does not
 * virtualize debug registers shows both the failure and whether the
 * workaround holds; a trixie node with runc, crun and podman for the
 * runtime suite (the other images carry no runtime: their runtime cell
 * says so), and a sid node with containerd 2.1 for the cri suite (the
 * kubelet's checkpoint path; the others show one SKIP cell there). Then the same two node images on Debian's 5.10, 6.1 and
 * 6.12 kernels in VMs (the big-mem curve only at 64 MiB there: under TCG
 * emulation larger dumps cost minutes and say nothing new). One migration
 * group moves the counter between the host trixie pool and three VM pools
 * (both node images, so CRIU 4.1.1 and 3.17.1; kernels 6.18, 6.1 and 6.12;
 * the namespace and qemu backends), cold; a second moves it from the 6.12
 * to the 6.1 VM pool with pre-copy, a page server and lazy pages.
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
  - name: host-trixie-containers
    description: >-
      Debian 13 node with its container runtimes (runc 1.1.15, crun 1.21,
      podman 5.4) on this machine's kernel, CRIU told not to use hardware
      breakpoints as in host-trixie-nobp
    kernel: host
    image: debian-trixie-containers
    criu:
      env:
        CRIU_FAULT: "130"
  - name: host-sid-containerd
    description: >-
      Debian unstable as a Kubernetes-style node: containerd 2.1.9 (its CRI
      plugin, the kubelet's checkpoint path), runc 1.3.6, CNI plugins, CRIU
      4.2.1, on this machine's kernel; CRIU told not to use hardware
      breakpoints as in host-trixie-nobp
    kernel: host
    image: debian-sid-containerd
    criu:
      env:
        CRIU_FAULT: "130"
  - name: k5.10-bookworm
    description: Debian 12 node image (CRIU 3.17.1) on Debian bullseye's 5.10 kernel, in a VM
    kernel: debian/bullseye
    image: debian-bookworm
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
  - name: k5.10-trixie
    description: Debian 13 node image (CRIU 4.1.1) on Debian bullseye's 5.10 kernel, in a VM
    kernel: debian/bullseye
    image: debian-trixie
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
  - name: k6.1-bookworm
    description: Debian 12 node image (CRIU 3.17.1) on Debian bookworm's 6.1 kernel, in a VM
    kernel: debian/bookworm
    image: debian-bookworm
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
  - name: k6.1-trixie
    description: Debian 13 node image (CRIU 4.1.1) on Debian bookworm's 6.1 kernel, in a VM
    kernel: debian/bookworm
    image: debian-trixie
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
  - name: k6.12-bookworm
    description: Debian 12 node image (CRIU 3.17.1) on Debian trixie's 6.12 kernel, in a VM
    kernel: debian/trixie
    image: debian-bookworm
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
  - name: k6.12-trixie
    description: Debian 13 node image (CRIU 4.1.1) on Debian trixie's 6.12 kernel, in a VM
    kernel: debian/trixie
    image: debian-trixie
    vm: { memoryMiB: 1536 }
    bigMemMiB: [64]
migrations:
  - name: across-pools
    description: >-
      The counter moved cold between node images (CRIU 4.1.1 and 3.17.1),
      kernels (this machine's, 6.1, 6.12) and backends (namespace, qemu),
      every direction
    pools: [host-trixie, k6.1-trixie, k6.12-bookworm, k6.12-trixie]
    workloads: [counter]
    modes: [cold]
  - name: live-modes
    description: >-
      Pre-copy, a page server and lazy pages between two VM pools with the
      same CRIU (6.12 to 6.1, both tracking dirty memory, both with
      userfaultfd), over the run's node network
    from: [k6.12-trixie]
    to: [k6.1-trixie]
    workloads: [counter]
    modes: [pre-copy, page-server, lazy]
`;
export const DEFAULT_CONFIG_NAME = '(embedded default)';
