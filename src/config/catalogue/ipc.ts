import { workloadClass } from './types.ts';

/** IPC and memory: FIFOs, shared memory, System V objects, memfd, file mappings, protections. */
export const IPC = [
  workloadClass({
    name: 'fifo',
    group: 'ipc',
    verifies: 'a named pipe (128 KiB buffer) between two processes with 40000 unread bytes: still a FIFO at its path, buffer size kept, every byte exact, 8 KiB more follow',
    container: true,
    args: ['{dir}'],
    inDefault: true,
  }),
  workloadClass({
    name: 'posix-shm',
    group: 'ipc',
    verifies: 'a 1 MiB shm_open object mapped by two processes: still there with its size, every byte intact, the mappings still share pages (a token and its answer cross)',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'sysv-shm',
    group: 'ipc',
    verifies: 'a 1 MiB System V segment in the tree\'s own IPC namespace, attached by two processes: same id, size, mode and attach count, every byte intact, still shared',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'sysv-sem',
    group: 'ipc',
    verifies: 'a System V semaphore set (own IPC namespace): id, mode and values kept, a child blocked in semop still waits (retrying after EINTR) and wakes when given',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'sysv-sem-undo',
    fixture: 'sysv-sem',
    group: 'ipc',
    verifies: 'as sysv-sem, with the child holding a SEM_UNDO adjustment from before the dump: it must still be undone when the child exits',
    args: ['--undo'],
  }),
  workloadClass({
    name: 'sysv-msg',
    group: 'ipc',
    verifies: 'a System V message queue (own IPC namespace) with 12 messages of 3 types: count and bytes kept, each message exact, by type and in order, none twice',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'memfd',
    group: 'ipc',
    verifies: 'a fully sealed memfd and a size-sealed one mapped shared and written: names, sizes, seals and bytes kept, sealed operations still EPERM, mapping and descriptor share pages',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'memfd-sealed-map',
    fixture: 'memfd',
    group: 'ipc',
    verifies: 'as memfd, with the write-sealed memfd also mapped MAP_SHARED read-only (a shared keymap): everything as memfd checks',
    args: ['--map-sealed'],
  }),
  workloadClass({
    name: 'mmap-file',
    group: 'ipc',
    verifies: 'a file mapped shared (written before and after) and private (copy-on-write pages): file equals the shared mapping, private copies kept, both ways still the same pages',
    container: true,
    args: ['{dir}'],
    inDefault: true,
  }),
  workloadClass({
    name: 'mprotect',
    group: 'ipc',
    verifies: 'one region in six runs of protections (r, rw, none, rx): same ranges and permissions in /proc/self/maps, readable bytes exact, forbidden accesses still fault',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'madvise',
    group: 'ipc',
    verifies: 'MADV_DONTNEED holes read as zeros and everything else is exact; MADV_DONTFORK (dc) and MADV_NOHUGEPAGE (nh) advice kept, a forked child lacks the DONTFORK range',
    container: true,
    inDefault: true,
  }),
];
