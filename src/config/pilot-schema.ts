import { z } from 'zod';

/**
 * A pilot: the operator's own service, run on the pools it names, with the
 * probes, seed/verify steps and CRIU options it needs, judged on measured
 * numbers against its success criteria (see src/pilots/).
 */
const Name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a name of lowercase letters, digits, ".", "_" or "-" (max 63), starting with a letter or digit');
const Argv = z.array(z.string().min(1)).min(1, 'a command as an argv list, e.g. [redis-cli, ping]');
const Port = z.number().int().min(1).max(65535);
const UserName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, 'a user name of the node image (e.g. redis, www-data, postgres)');
const AbsPath = z.string().regex(/^\/[^\0]*$/, 'an absolute path inside the node');

/** A command run inside the node (seed, verify, readiness), with its own time limit. */
export const PilotCommand = z.strictObject({
  command: Argv,
  user: UserName.optional(),
  timeoutMs: z.number().int().positive().max(600_000).default(10_000),
});

/** Readiness: a command that exits 0, a TCP connect, or an HTTP GET with the expected status (and body text). */
export const ReadyProbe = z.union(
  [
    z.strictObject({ command: Argv, timeoutMs: z.number().int().positive().max(600_000).default(20_000) }),
    z.strictObject({ tcp: z.strictObject({ port: Port, host: z.string().default('127.0.0.1') }), timeoutMs: z.number().int().positive().max(600_000).default(20_000) }),
    z.strictObject({
      http: z.strictObject({ port: Port, host: z.string().default('127.0.0.1'), path: z.string().regex(/^\//, 'a path starting with /').default('/'), status: z.number().int().min(100).max(599).default(200), body: z.string().optional() }),
      timeoutMs: z.number().int().positive().max(600_000).default(20_000),
    }),
  ],
  { error: 'a readiness probe: {command: [...]}, {tcp: {port}} or {http: {port, path, status, body}}, each with an optional timeoutMs' },
);

const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');

/**
 * A client program of the node's own (psql, redis-cli…) kept running as one
 * co-process for the whole stage: `send` is written to its stdin every
 * interval and `expect` awaited on its stdout. For a protocol the text
 * `held` client cannot speak (PostgreSQL's is binary): the program holds the
 * connection, and it must stay the same program (a client that exits on a
 * lost connection, as psql does when its input is not a terminal, is
 * started again and counted as a reconnect).
 */
export const PilotSession = z.strictObject({
  command: Argv,
  user: UserName.optional(),
  env: z.record(EnvName, z.string()).default({}),
  send: z.string().min(1),
  expect: z.string().min(1),
});

/**
 * The client outside the checkpointed tree that keeps asking the service
 * during every stage: a fresh TCP connect each time, an HTTP GET each time,
 * one held connection that sends a request and expects an answer each time
 * (it must stay the same connection across checkpoint/restore), or a held
 * session of a client program (the same, through a program that speaks the
 * service's protocol).
 */
export const PilotClient = z
  .strictObject({
    tcp: z.strictObject({ port: Port }).optional(),
    http: z.strictObject({ port: Port, path: z.string().regex(/^\//).default('/'), status: z.number().int().min(100).max(599).default(200), body: z.string().optional() }).optional(),
    held: z.strictObject({ port: Port, send: z.string().min(1), expect: z.string().min(1) }).optional(),
    session: PilotSession.optional(),
    intervalMs: z.number().int().min(5).max(10_000).default(50),
  })
  .refine((c) => [c.tcp, c.http, c.held, c.session].filter(Boolean).length === 1, 'exactly one of tcp, http, held or session');

/** Does the pilot's migration move its service address (and so need the run's node network)? */
export function pilotMovesAddress(p: Pick<Pilot, 'stages' | 'serviceAddress'>): boolean {
  return p.stages.includes('migration') && p.serviceAddress === 'move';
}

/** Does the client hold one connection that must survive (held, or a session program)? */
export function holdsConnection(client: Partial<z.infer<typeof PilotClient>> | undefined): boolean {
  return Boolean(client?.held ?? client?.session);
}

/** Namespaces a service can be started in, of its own (made by root before it drops to the service's user). */
export const SERVICE_NAMESPACES = ['ipc', 'uts'] as const;

/** What the service is: a command in the node image (packages added by name), or a container. */
export const PilotService = z.union(
  [
    z.strictObject({
      command: Argv,
      user: UserName.default('root'),
      /** Directories the service writes: made writable (tmpfs holding the image's contents, owner kept). */
      writable: z.array(AbsPath).default([]),
      env: z.record(EnvName, z.string()).default({}),
      /**
       * Namespaces of its own: made by root (unshare) before the drop to
       * the service's user, so a service as its user gets what it cannot
       * make itself; CRIU dumps them with the tree (PostgreSQL's SysV
       * segment needs an IPC namespace CRIU can dump).
       */
      namespaces: z.array(z.enum(SERVICE_NAMESPACES)).default([]),
    }),
    z.strictObject({
      container: z
        .strictObject({
          /** A local OCI archive (oci-archive tar) or a root filesystem directory: nothing is pulled from a registry. */
          archive: z.string().min(1).optional(),
          rootfs: z.string().min(1).optional(),
          runtime: z.enum(['runc', 'crun', 'podman']).default('runc'),
          command: Argv,
          user: UserName.default('root'),
        })
        .refine((c) => Boolean(c.archive) !== Boolean(c.rootfs), 'exactly one of archive (an OCI archive) or rootfs (a directory)'),
    }),
  ],
  { error: 'a service: {command: [...], user, writable} (inside the node image) or {container: {archive|rootfs, runtime, command}}' },
);

/** The stages a pilot goes through; each is measured over `attempts`. */
export const PILOT_STAGES = ['leave-running', 'checkpoint-restore', 'migration'] as const;

/** Success criteria, judged on measured numbers (absent: not judged). */
export const PilotCriteria = z.strictObject({
  /** p95 of the time the service was frozen by a checkpoint (ms). */
  freezeMsP95: z.number().positive().optional(),
  /** Restores that verified, over all attempts (0..1). */
  restoreSuccessRate: z.number().min(0).max(1).default(1),
  checkpointMsMax: z.number().positive().optional(),
  restoreMsMax: z.number().positive().optional(),
  imageBytesMax: z.number().int().positive().optional(),
  /** The longest time the client got no right answer (ms). */
  clientGapMsMax: z.number().positive().optional(),
  /** Wrong or failed answers the client may see in all. */
  clientErrorsMax: z.number().int().min(0).default(0),
});

export const Pilot = z.strictObject({
  name: Name,
  description: z.string().optional(),
  /** Pools it runs on (of this config; of the embedded default when the file has no pools:). */
  pools: z.array(Name).min(1),
  /** Debian packages added to each of those pools' node images (debootstrap images only). */
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name')).default([]),
  service: PilotService,
  ready: ReadyProbe,
  seed: z.array(PilotCommand).default([]),
  verify: z.array(PilotCommand).default([]),
  client: PilotClient.optional(),
  criu: z
    .strictObject({
      /** CRIU options the service needs on dump and restore (--tcp-established, --file-locks, --shell-job, --ext-unix-sk…). */
      options: z.array(z.string().regex(/^--[a-z][a-z0-9-]*(=.*)?$/, 'a CRIU long option such as --tcp-established')).default([]),
      /**
       * Who runs `criu dump` for a service of its own user: root; the service's user with --unprivileged (root's
       * capabilities as ambient ones; restored by root); auto = root where root holds CAP_SYS_RESOURCE, else the user.
       */
      dumpAs: z.enum(['auto', 'root', 'service-user']).default('auto'),
    })
    .default({ options: [], dumpAs: 'auto' }),
  attempts: z.number().int().min(1).max(1000).default(5),
  stages: z.array(z.enum(PILOT_STAGES)).min(1).default(['leave-running', 'checkpoint-restore']),
  /** migration stage: the pools it is migrated to from each of pools (restored and verified there; they get the pilot's packages too). */
  migrateTo: z.array(Name).default([]),
  /**
   * migration stage: where the service's address goes. "stay" (default): its clients reach it inside the
   * source node (127.0.0.1), and a held connection stays with the source (recorded lost: clients must
   * reconnect). "move": the run makes its node network; the service is reached at a service address of it,
   * held by the source, from a client node (a third node); after the dump the address (and CRIU's network
   * lock) goes to the destination before the restore, and a held text client's connection must keep
   * answering there. The service must then listen on that address (or on all addresses), not only on 127.0.0.1.
   */
  serviceAddress: z.enum(['move', 'stay'], { error: 'serviceAddress "move" (the destination gets the service address) or "stay" (it stays with the source)' }).default('stay'),
  criteria: PilotCriteria.default(() => PilotCriteria.parse({})),
});
export type Pilot = z.infer<typeof Pilot>;
export type PilotCriteria = z.infer<typeof PilotCriteria>;

/** GO / CONDITIONAL / NO-GO; UNDECIDED when the harness could not measure what the criteria need (fail closed). */
export const PILOT_VERDICTS = ['GO', 'CONDITIONAL', 'NO-GO', 'UNDECIDED'] as const;
export type PilotVerdictName = (typeof PILOT_VERDICTS)[number];
