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
  workloadClass({
    name: 'deleted-file',
    group: 'files',
    verifies: 'an unlinked sparse file (ghost) keeps offset, bytes, hole and its shared mapping; a file open by a removed name with another hard link stays that inode; no remap file left',
    criu: ['linkRemap'],
    inDefault: true,
    args: ['{dir}'],
  }),
  workloadClass({
    name: 'inotify',
    group: 'files',
    verifies: 'two inotify instances keep their watch descriptors, masks and flags and fire exactly the 7 scripted events (names included), nothing queued by the restore',
    inDefault: true,
    args: ['{dir}'],
  }),
  workloadClass({
    name: 'cwd-and-root',
    group: 'files',
    verifies: 'a process keeps its cwd deep in a subdirectory (path, inode, relative lookups); a chrooted child keeps its root, cannot climb out, and its cwd',
    inDefault: true,
    args: ['{dir}'],
  }),
];
