import { workloadClass } from './types.ts';

/** Time and events: timers, epoll sets, signalfd. */
export const TIME_EVENTS = [
  workloadClass({
    name: 'timers',
    group: 'time-events',
    verifies: 'a timerfd (armed, 60 s left: neither reset nor lost), a POSIX timer (same id and sigev value) and three itimers keep exact intervals; the POSIX timer and SIGALRM keep their rates',
    needs: [{ kind: 'criu-feature', name: 'timerfd', why: "restoring a timerfd's pending expirations" }],
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'timerfd-pending',
    group: 'time-events',
    verifies: 'a 10 ms timerfd with unread expirations at the dump keeps them and keeps firing (CRIU ≤ 4.2 restores it disarmed, criu issue #3162: FAIL expected there)',
    needs: [{ kind: 'criu-feature', name: 'timerfd', why: "restoring a timerfd's pending expirations" }],
  }),
  workloadClass({
    name: 'eventfd-epoll',
    group: 'time-events',
    verifies: 'an epoll set (and one nested in another) over eventfds, pipes and a unix socket reports exactly the same ready tags and bits; counts, bytes, edge-triggering and new events hold',
    inDefault: true,
  }),
  workloadClass({
    name: 'eventfd-semaphore',
    group: 'time-events',
    verifies: 'an EFD_SEMAPHORE eventfd still hands out one unit per read (CRIU ≤ 4.2 recreates eventfds without the flag: FAIL expected there)',
  }),
  workloadClass({
    name: 'signalfd',
    group: 'time-events',
    verifies: 'blocked mask, pending standard, queued real-time (values in order) and thread-directed signals, and two signalfds that return exactly them with code and sender',
    inDefault: true,
  }),
];
