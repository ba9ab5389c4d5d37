import { workloadClass } from './types.ts';

/** Sockets: TCP, UDP and unix sockets with their queues. */
export const SOCKETS = [
  workloadClass({
    name: 'tcp-established',
    group: 'sockets',
    verifies: 'a loopback TCP connection with both ends in the tree: every number in flight arrives once and in order both ways, addresses and ESTABLISHED kept, fresh data flows',
    criu: ['tcpEstablished'],
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'tcp-external',
    group: 'sockets',
    verifies: 'a TCP connection over a veth pair to an echo peer outside the dumped tree, in its own network namespace: ESTABLISHED with the same addresses, every number echoed once and in order, 1000 fresh ones too',
    criu: ['tcpEstablished'],
    args: ['{dir}'],
    peer: { args: ['--peer', '{dir}'] },
    inDefault: true,
  }),
  workloadClass({
    name: 'tcp-listen',
    group: 'sockets',
    verifies: 'a TCP listener keeps its address, SO_REUSEADDR and SO_KEEPALIVE, and accepts two connections after restore (64 KiB each way, exact)',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'udp',
    group: 'sockets',
    verifies: 'two bound UDP sockets (one connected) keep their addresses and peer; 8 fresh datagrams each way arrive whole, in order, exact, from the right sender, none twice',
    container: true,
    inDefault: true,
  }),
  workloadClass({
    name: 'udp-queue',
    fixture: 'udp',
    group: 'sockets',
    verifies: 'as udp, with 16 + 4 datagrams queued unread before the dump: each must be there after restore, whole, in order (CRIU 4.1.1 drops UDP receive queues: FAIL)',
    args: ['--queued'],
  }),
  workloadClass({
    name: 'unix-stream',
    group: 'sockets',
    verifies: 'a socketpair and a named connection between two processes, 48 KiB unread each way on each: every byte intact, then a fresh exchange',
    container: true,
    args: ['{dir}'],
    inDefault: true,
  }),
  workloadClass({
    name: 'unix-dgram',
    group: 'sockets',
    verifies: 'datagrams queued both ways on a socketpair between two processes and at a bound socket: each whole, in order, exact; the name kept; fresh ones flow',
    container: true,
    args: ['{dir}'],
    inDefault: true,
  }),
  workloadClass({
    name: 'unix-listen',
    group: 'sockets',
    verifies: 'a unix listener with a pending (not yet accepted, no data: CRIU refuses queued data there) connection: accept returns it, 2000 bytes go each way exactly, a new connection is accepted',
    container: true,
    args: ['{dir}'],
    inDefault: true,
  }),
];
