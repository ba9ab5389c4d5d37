import { workloadClass } from './types.ts';

/** Processes: sessions, zombies, per-thread state, seccomp, credentials, time namespaces. */
export const PROCESSES = [
  workloadClass({
    name: 'session-pgrp',
    group: 'processes',
    verifies: 'six processes in three sessions and five groups, one group without a living leader, keep pid, ppid, pgid and sid; group signals reach exactly the members',
    inDefault: true,
  }),
  workloadClass({
    name: 'zombie',
    group: 'processes',
    verifies: 'three unreaped children (exit 42, killed by SIGTERM, a grandchild exit 7) stay zombies of the same parents and reap with exactly those statuses',
    inDefault: true,
  }),
  workloadClass({
    name: 'threads-state',
    group: 'processes',
    verifies: "each thread's tid, name, scheduling policy, nice, blocked signals, alternate signal stack and TLS value; /proc/self/task lists exactly the four threads",
    inDefault: true,
  }),
  workloadClass({
    name: 'thread-affinity',
    group: 'processes',
    verifies: 'threads pinned to the first and the last allowed CPU keep their affinity (CRIU ≤ 4.2 does not checkpoint it: FAIL expected wherever 2+ CPUs are allowed)',
  }),
  workloadClass({
    name: 'seccomp',
    group: 'processes',
    verifies: 'two seccomp filters (one synced to both threads, one on the main thread) still return their errnos on exactly the filtered calls and arguments; no_new_privs kept',
    needs: [{ kind: 'criu-feature', name: 'seccomp_filters', why: 'dumping seccomp filters (PTRACE_SECCOMP_GET_FILTER)' }],
    inDefault: true,
  }),
  workloadClass({
    name: 'caps-and-creds',
    group: 'processes',
    verifies: 'a uid-1001 child keeps real/effective/saved/fs uids and gids, groups, effective/permitted/inheritable/ambient/bounding caps, securebits, dumpable; the caps act',
    needs: [{ kind: 'privilege', name: 'CAP_SYS_RESOURCE', bit: 24, why: "CRIU reads the rlimits of a process of another user, which needs it" }],
    inDefault: true,
  }),
  workloadClass({
    name: 'time-namespace',
    group: 'processes',
    verifies: 'a process in its own time namespace (monotonic +1000 days, boottime +2000) keeps the offsets; its monotonic clock never goes back nor jumps past real time',
    needs: [
      { kind: 'kernel-path', name: 'time namespaces', path: '/proc/self/ns/time', why: 'CONFIG_TIME_NS, Linux 5.6+' },
      { kind: 'criu-feature', name: 'timens', why: 'CRIU restores time namespace offsets' },
    ],
    inDefault: true,
  }),
];
