import { workloadClass } from './types.ts';

/** IPC and memory: FIFOs, shared memory, System V objects, memfd, file mappings, protections. */
export const IPC = [
  workloadClass({
    name: 'fifo',
    group: 'ipc',
    verifies: 'a named pipe (128 KiB buffer) between two processes with 40000 unread bytes: still a FIFO at its path, buffer size kept, every byte exact, 8 KiB more follow',
    container: true,
    args: ['{dir}'],
  }),
  workloadClass({
    name: 'posix-shm',
    group: 'ipc',
    verifies: 'a 1 MiB shm_open object mapped by two processes: still there with its size, every byte intact, the mappings still share pages (a token and its answer cross)',
    container: true,
  }),
  workloadClass({
    name: 'sysv-shm',
    group: 'ipc',
    verifies: 'a 1 MiB System V segment in the tree\'s own IPC namespace, attached by two processes: same id, size, mode and attach count, every byte intact, still shared',
    container: true,
  }),
];
