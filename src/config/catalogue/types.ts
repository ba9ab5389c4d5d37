/**
 * The shape of one workload class of the catalogue: plain data, read by the
 * config schema (which names exist, which run by default), by the round-trip
 * and runtime suites (cases, CRIU options, capabilities) and by the README's
 * table. Lives in config, the lowest layer that needs it.
 */

export const WORKLOAD_GROUPS = ['basic', 'sockets', 'ipc', 'files', 'time-events', 'processes'] as const;
export type WorkloadGroup = (typeof WORKLOAD_GROUPS)[number];

/**
 * CRIU options a class may need, as the typed keys of criu/commands.ts's
 * DumpOptions/RestoreOptions (commands.ts maps each to its flag on the
 * commands that take it: --tcp-established, --file-locks, --link-remap,
 * --shell-job; only flags `criu --help` of 3.17.1 and 4.1.1 lists, so not
 * the old --ext-unix-sk).
 */
export const CLASS_CRIU_OPTIONS = ['tcpEstablished', 'fileLocks', 'linkRemap', 'shellJob'] as const;
export type ClassCriuOption = (typeof CLASS_CRIU_OPTIONS)[number];

/** The CRIU options the container runtimes' checkpoint/restore pass on (runc, crun and podman all have these two). */
export const RUNTIME_CRIU_OPTIONS = ['tcpEstablished', 'fileLocks'] as const satisfies readonly ClassCriuOption[];

/**
 * A capability a class needs, probed on each pool before its cell runs; a
 * pool without it makes the cell SKIP with "capability missing: NAME (why)".
 * criu-feature: `criu check --feature NAME` says it is there (a CRIU that
 * does not know the name decides nothing: ERROR). kernel-path: PATH exists
 * inside the pool's environment (e.g. /proc/self/ns/time). privilege: a
 * process the environment starts the way it starts criu has capability
 * number BIT in its effective set (CapEff of /proc/self/status), e.g.
 * CAP_SYS_RESOURCE (24), which CRIU needs to read another user's rlimits.
 */
export type Capability =
  | { kind: 'criu-feature'; name: string; why: string }
  | { kind: 'kernel-path'; name: string; path: string; why: string }
  | { kind: 'privilege'; name: string; bit: number; why: string };

/** Extra round-trip cells of a class, beside its plain dump → restore cell. */
export type ClassVariant = 'pre-dump' | 'leave-running';

export interface WorkloadClass {
  /** The class's name: the check's name, and its fixture fixtures/workloads/NAME.c unless fixture says otherwise. */
  name: string;
  /** The fixture (fixtures/workloads/FIXTURE.c) when the class shares another's, told apart by its args. */
  fixture?: string;
  group: WorkloadGroup;
  /** One line: what the fixture verifies after restore (the README table's column). */
  verifies: string;
  /** CRIU options its dump and restore need. */
  criu: readonly ClassCriuOption[];
  /** Capabilities probed before it runs (SKIP naming the one missing). */
  needs: readonly Capability[];
  /** Run by the runtime suite inside runc/crun/podman containers too. */
  container: boolean;
  /** In settings.workloads's default (the default run's time budget decides). */
  inDefault: boolean;
  /**
   * Arguments; "{dir}" becomes the attempt's own directory inside the
   * environment (a place for the class's files, sockets and FIFOs).
   */
  args: readonly string[];
  /**
   * A helper process the harness starts first, outside the checkpointed tree
   * (the same binary with these arguments; "{dir}" as above). It prints
   * "ready" like a workload; it is not dumped, it keeps running across the
   * round trip and is stopped afterwards. A "FAIL: …" line from it fails the
   * cell.
   */
  peer?: { args: readonly string[] };
  /** big-mem: one cell per size of settings.bigMemMiB (or the pool's), the size as its argument. */
  sized?: boolean;
  /** Extra cells (counter: pre-dump and leave-running). */
  variants?: readonly ClassVariant[];
}

/** A catalogue row with the defaults filled in (what the group files write stays short). */
export function workloadClass(c: Pick<WorkloadClass, 'name' | 'group' | 'verifies'> & Partial<WorkloadClass>): WorkloadClass {
  return { criu: [], needs: [], container: false, inDefault: false, args: [], ...c };
}
