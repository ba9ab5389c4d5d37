/**
 * podman with everything it keeps under DIR (storage, run state, temporary
 * files, network config): the node image's own root stays untouched and
 * read-only. cgroupfs (no systemd in a node image), events to a file.
 */
export function podmanCommand(dir: string, storageDriver: 'vfs' | 'overlay', runtime: string): string[] {
  return [
    'podman',
    '--root', `${dir}/storage`,
    '--runroot', `${dir}/run`,
    '--tmpdir', `${dir}/tmp`,
    '--storage-driver', storageDriver,
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--network-config-dir', `${dir}/net`,
    '--runtime', runtime,
  ];
}
