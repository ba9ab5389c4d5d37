import { workloadClass } from './types.ts';

/** The first six: memory, files, pipes, a tree, threads, and the big-mem scale curve. */
export const BASIC = [
  workloadClass({
    name: 'counter',
    group: 'basic',
    verifies: 'a hash chain over a moving counter, a 16 MiB pattern and a 1 MiB hot region; the monotonic clock never goes back',
    container: true,
    inDefault: true,
    variants: ['pre-dump', 'leave-running'],
  }),
  workloadClass({ name: 'open-file', group: 'basic', verifies: 'offsets, flags, identity and every byte of open files, one of them unlinked (a ghost file)', inDefault: true }),
  workloadClass({ name: 'pipe-pair', group: 'basic', verifies: 'two processes playing ping-pong over pipes continue the sequence; 3000 unread bytes in a third pipe stay intact', inDefault: true }),
  workloadClass({ name: 'process-tree', group: 'basic', verifies: 'a parent, children and a grandchild in several process groups and sessions: each keeps its pid, ppid, pgid and sid', container: true, inDefault: true }),
  workloadClass({ name: 'threads', group: 'basic', verifies: 'four threads keep running, each with its thread id, thread-local value and counter', inDefault: true }),
  workloadClass({ name: 'big-mem', group: 'basic', verifies: 'every byte of N MiB of patterned anonymous memory (the dump time and image size per GiB curve)', inDefault: true, sized: true }),
];
