import { workloadClass } from './types.ts';

/** Sockets: TCP, UDP and unix sockets with their queues. */
export const SOCKETS = [
  workloadClass({
    name: 'tcp-established',
    group: 'sockets',
    verifies: 'a loopback TCP connection with both ends in the tree: every number in flight arrives once and in order both ways, addresses and ESTABLISHED kept, fresh data flows',
    criu: ['tcpEstablished'],
    container: true,
  }),
];
