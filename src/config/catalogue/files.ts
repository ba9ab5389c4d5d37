import { workloadClass } from './types.ts';

/** Files: locks, deleted files, watches, working directories. */
export const FILES = [
  workloadClass({
    name: 'file-lock',
    group: 'files',
    verifies: 'flock, POSIX (fcntl) and OFD locks on one file keep their type, range and owner, and are released through the restored descriptors',
    criu: ['fileLocks'],
    container: true,
    args: ['{dir}'],
  }),
];
