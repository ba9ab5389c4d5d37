/**
 * The cgroup (under each hierarchy's root) that holds every container the
 * harness starts: node containers and the workload containers a runtime
 * runs. Teardown and the sweep of a killed run remove what is left there.
 */
export const CGROUP_PARENT = 'criu-compat';
