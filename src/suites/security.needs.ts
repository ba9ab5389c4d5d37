import type { SuiteNeeds } from './suite-needs.ts';

/** The security suite's second node of a pool: the destination of transfer-integrity's moves. */
export const SECURITY_PEER_SESSION = 'security-peer';

/** The fixtures the security suite runs on its own: counter in archive-at-rest's containers, threads (small) in transfer-integrity's moves. */
export const SECURITY_WORKLOADS = ['secret-canary', 'sandbox-probe', 'counter', 'threads'] as const;

/** security: the playbook's controls, checked per pool (suites/security.suite.ts). */
export const needs = {
  sessions: ['security', SECURITY_PEER_SESSION],
  workloads: SECURITY_WORKLOADS,
  copyWorkloads: true,
} as const satisfies SuiteNeeds;
