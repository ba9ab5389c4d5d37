import { holdsConnection, type Pilot } from '../config/pilot-schema.ts';
import type { Settings } from '../config/schema.ts';
import { dumpArgs, restoreArgs } from '../criu/commands.ts';
import { describeFailure, type Criu, type CriuRun } from '../criu/driver.ts';
import { failureStatus, olderCriuOnDestination } from '../criu/diagnose.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import { ClientNode } from '../environments/network/client-node.ts';
import type { NodeNetworkSpec } from '../environments/network/node-network.ts';
import { EnvironmentError } from '../errors.ts';
import { mkdirPrivate, removeTree } from '../util/fs.ts';
import type { Status } from '../results/schema.ts';
import { missingCapability } from './capabilities.ts';
import { ClientNodeHost } from './client-node-host.ts';
import { PilotClient, clientArgv, readClientLines, type ClientReport } from './pilot-client.ts';
import { pilotCriuArgs } from './pilot-criu-options.ts';
import { DumpDirsError, OTHER_USER, planDumpAs, runDumpAs, treeRefusal, type DumpIdentity } from './pilot-dump-as.ts';
import { PilotService, type PilotSubject } from './pilot-service.ts';
import { FIRST_ANSWERS_MS, Stop, type PilotAttempt, type PilotFigures, type StepRun } from './pilot-stage.ts';
import { NetworkContinuityError, ServiceAddress } from './service-address.ts';
import { nextPidsAbove, placePids } from './pid-placement.ts';
import { moveTree } from './transfer.ts';
import { TransferTamperedError } from './transfer-integrity.ts';
import type { RuntimeInfo } from '../runtimes/detect.ts';
import { containerMove } from './pilot-migration-container.ts';

/** One end of a pilot's migration: a node of the pool, its CRIU, and the CRIU version the pool's image has. */
export interface PilotNode {
  pool: string;
  env: Environment;
  criu: Criu;
  criuVersion?: string | null | undefined;
  /** Container pilots: the runtimes of the pool's node image (its inventory) and the pool's CRIU environment. */
  runtimes?: RuntimeInfo[] | undefined;
  criuEnv?: Record<string, string> | undefined;
}

export interface PilotMigrationContext {
  source: PilotNode;
  destination: PilotNode;
  pilot: Pilot;
  /** The attempt's directory: the same path on both nodes (images, the writable dirs' archive, outputs). */
  dir: string;
  /** The client prober: the same path on both nodes. */
  probe: string;
  /** Root-only host directory the files pass through (see transfer.ts). */
  transit: string;
  timeouts: Settings['timeouts'];
  /** Container pilots: names the containers' cgroups on both nodes (unique to the run and the source pool). */
  tag?: string | undefined;
  signal?: AbortSignal | undefined;
  /** serviceAddress move: the run's node network, cc-guard, the prober as a host binary (a client node runs host binaries) and a root-only host directory for the attempt's client files. */
  addressMove?: { network: NodeNetworkSpec | undefined; guard: string; probe: string; hostDir: string } | undefined;
}

/** PIDs a service's tree may take from where it starts (its workers, the commands run before it): free on the destination. */
const PID_WINDOW = 512;

/** Records a command run on a node for the cell (paths relative to the attempt directory). */
export type Recorder = <R extends StepRun>(node: PilotNode, run: R) => R;

/**
 * How a pilot's service moves, the part that differs between a command
 * service (CRIU itself, its writable dirs in a tar beside the images) and a
 * container (its runtime's checkpoint and restore, the images and bundle or
 * the export archive): the service on each end and the steps. The attempt
 * around it (clients, downtime, verify, fallback, cleanup) is one.
 */
export interface PilotMove {
  /** The service on the source, and the one the destination restores. */
  at: PilotSubject;
  there: PilotSubject;
  /** What the destination needs before the move, done while the service still runs (podman: the container's image); not part of the downtime. */
  beforeCheckpoint?(): Promise<void>;
  /** Checkpoints the service on the source (it stops there); freeze, checkpoint time and image size go into FIGURES. */
  checkpoint(figures: PilotFigures): Promise<StepRun>;
  /** Carries what the destination needs to the same paths there (integrity-checked) and gets it ready; the transfer's duration. */
  carry(): Promise<number>;
  /** Restores on an end from the moved images (the source: the playbook's fallback); the subject's PID is set on success. */
  restore(end: 'destination' | 'source'): Promise<StepRun>;
  /** The failed step in one line ("criu restore failed (exit 1): …", "runc restore failed …"). */
  failure(what: 'checkpoint' | 'restore', run: StepRun): string;
}

/**
 * A command service's move: criu dump on the source; its images and its
 * writable dirs' contents (a tar made after the dump, so the files are the
 * ones CRIU saw) moved to the same path on the destination, the writable
 * dirs made there and filled; criu restore with that end's CRIU (the
 * service keeps its PID).
 */
function commandMove(x: PilotMigrationContext, record: Recorder, who: { dumpAs: DumpIdentity }): PilotMove & { at: PilotService } {
  const { source: src, destination: dst, pilot, dir } = x;
  const opts = { probe: x.probe, commandMs: x.timeouts.commandMs };
  const at = new PilotService(src.env, pilot, { ...opts, outFile: `${dir}/service.out` });
  const there = new PilotService(dst.env, pilot, { ...opts, outFile: `${dir}/service.out` });
  const criuArgs = pilotCriuArgs(pilot.criu.options);
  const writable = 'command' in pilot.service ? pilot.service.writable : [];
  const log = (name: string) => ({ logFile: `${dir}/img/${name}`, verbosity: 4 as const });
  return {
    at,
    there,
    async checkpoint(figures) {
      // As root, or as the service's own user where root lacks CAP_SYS_RESOURCE (pilot-dump-as.ts); restored by root either way.
      const probe = { env: src.env, criu: src.criu, commandMs: x.timeouts.commandMs, dir };
      const run = await runDumpAs(who.dumpAs, probe, (p) => [...dumpArgs({ pid: at.pid, imagesDir: p('img'), logFile: 'dump.log', verbosity: 4 }), ...criuArgs.dump], log('dump.log').logFile, ['img']).catch((e: unknown) => {
        throw e instanceof DumpDirsError ? new Stop('ERROR', e.message) : e;
      });
      const dump = record(src, run);
      if (!dump.ok) return dump;
      if (who.dumpAs.as === 'service-user') figures.unprivilegedDump = 1;
      figures.checkpointMs = dump.result.durationMs;
      const frozenUs = (await readCriuStats(src.env, `${dir}/img`)).criuDump?.['frozenTimeUs'];
      figures.freezeMs = frozenUs !== undefined ? frozenUs / 1000 : figures.checkpointMs;
      const bytes = await src.env.du(`${dir}/img`).catch(() => 0);
      if (bytes) figures.imageBytes = bytes;
      return dump;
    },
    async carry() {
      // The writable dirs' contents travel as one archive beside the images (a tmpfs inside the node is not a path the transfer reaches on every backend).
      if (writable.length) {
        const tar = await src.env.exec(['tar', '-C', '/', '--numeric-owner', '-cpf', `${dir}/writable.tar`, ...writable.map((d) => d.replace(/^\/+/, ''))], { timeoutMs: x.timeouts.commandMs, signal: x.signal });
        if (tar.exitCode !== 0) throw new Stop('ERROR', `harness: archiving ${writable.join(', ')} on ${src.pool} failed: ${tar.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${tar.exitCode}`}`);
      }
      const moved = await moveTree(src.env, dst.env, dir, x.transit, { signal: x.signal });
      const tw = await there.prepareWritable();
      if (!tw.ok) throw new Stop('ERROR', `on ${dst.pool}: ${tw.detail}`);
      if (writable.length) {
        const untar = await dst.env.exec(['tar', '-C', '/', '--numeric-owner', '-xpf', `${dir}/writable.tar`], { timeoutMs: x.timeouts.commandMs, signal: x.signal });
        if (untar.exitCode !== 0) throw new Stop('ERROR', `harness: restoring ${writable.join(', ')} on ${dst.pool} failed: ${untar.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${untar.exitCode}`}`);
      }
      return moved.ms;
    },
    async restore(end) {
      const [node, name] = end === 'destination' ? [dst, 'restore.log'] : [src, 'restore-fallback.log'];
      // What ran on the destination since (the transfer's checks, CRIU's own helpers) must not take the tree's PIDs.
      if (end === 'destination') await nextPidsAbove(dst.env, at.pid + PID_WINDOW, x.signal);
      const run = record(node, await node.criu.run([...restoreArgs({ imagesDir: `${dir}/img`, logFile: name, verbosity: 4, detach: true }), ...criuArgs.restore], log(name)));
      // CRIU restores the service with the PID it had: the destination's service is that process.
      if (run.ok && end === 'destination') there.pid = at.pid;
      return run;
    },
    failure: (what, run) => describeFailure(what === 'checkpoint' ? 'criu dump' : 'criu restore', run, x.timeouts.criuMs),
  };
}


/**
 * One attempt of NAME/migration → DEST: the service started on the source
 * (writable dirs or its container, its user, ready, seeded), checkpointed
 * there, what a restore needs moved to the same path on the destination
 * with the integrity-checked transfer, restored with the destination's CRIU
 * (or runtime), ready and verified there (PilotMove: how a command service
 * and a container move).
 *
 * The client, serviceAddress stay (default): the service's address stays
 * with the source; a client that reconnects starts on the destination after
 * the restore, and the client-visible gap is the downtime (checkpoint start
 * to that client's first right answer), the longest any client of the
 * service could have waited. A held (or session) client is held on the
 * source from before the checkpoint to the end, for real: whether its
 * connection answered again after the move is measured
 * (heldConnectionSurvived), not assumed.
 *
 * serviceAddress move: a service address of the run's network on the source
 * (before the service starts), the clients on a client node (a third node)
 * reaching the service there: a held text client holds its connection from
 * before the checkpoint; after it the address and CRIU's network lock go to
 * the destination, the restore (--tcp-established) brings the connection
 * back there, and the same connection must answer again. A session client
 * (a program of the node image) stays held on the source. When the
 * destination fails, the playbook's fallback is tried for real: the same
 * checkpoint restored on the source (the address back there first), ready
 * and verified there. Everything it started on both nodes is removed before
 * it returns.
 */
export async function attemptPilotMigration(x: PilotMigrationContext): Promise<PilotAttempt> {
  const { source: src, destination: dst, pilot, dir } = x;
  await src.env.makeDir(`${dir}/img`);
  const figures: PilotFigures = {};
  const commands: string[] = [];
  const record: Recorder = (node, run) => (commands.push(`[${node.pool}] ${run.argv.join(' ').replaceAll(`${dir}/`, '')}`), run);
  const who: { dumpAs: DumpIdentity } = { dumpAs: { as: 'root' } };
  const made = 'command' in pilot.service ? commandMove(x, record, who) : await containerMove(x, record, commands);
  if (made instanceof Stop) return { status: made.status, reason: made.message, figures, diagnoses: [], logExcerpt: [], commands, output: [] };
  const move = made;
  const { at, there } = move;
  at.signal = there.signal = src.criu.signal = dst.criu.signal = x.signal;
  const session = Boolean(pilot.client?.session);
  let client = pilot.client ? new PilotClient(dst.env, clientArgv(x.probe, pilot.client, 2000, true), `${dir}/client.out`, false) : undefined;
  let holder = pilot.client && holdsConnection(pilot.client) ? new PilotClient(src.env, clientArgv(x.probe, pilot.client, 2 * x.timeouts.criuMs), `${dir}/held.out`, true) : undefined;
  /** serviceAddress move: the address, the client node, and whether the held connection goes through it. */
  let net: { addr: ServiceAddress; address: string; node: ClientNodeHost; hostDir: string; held: boolean; note?: string } | undefined;
  let pending: Parameters<typeof unmove>[0];
  const port = pilot.client?.held?.port ?? pilot.client?.tcp?.port ?? pilot.client?.http?.port;
  let held: ClientReport | undefined;
  let ending: { status: Status; reason: string; run?: StepRun | undefined; older?: boolean };
  let report: ClientReport | undefined;
  let checkpointed = false;
  let fallback: PilotAttempt['fallback'];
  /** The playbook's answer to a restore that fails on the destination: the same checkpoint restored on the source, ready and verified there. */
  const fallbackOnSource = async (): Promise<NonNullable<PilotAttempt['fallback']>> => {
    if (net) await net.addr.backToSource(net.node.node);
    const run = await move.restore('source');
    if (!run.ok) return { status: failureStatus(run.diagnoses), reason: `the images do not restore on ${src.pool} either: ${move.failure('restore', run)}` };
    for (const step of [() => at.waitReady(), () => at.steps('verify')]) {
      const r = await step();
      if (!r.ok) return { status: 'FAIL', reason: `restored on ${src.pool} from the same images, but ${r.detail}` };
    }
    return { status: 'PASS', reason: `restored on ${src.pool} from the same images and verified there: the pair is incompatible, the source is not broken` };
  };
  /** A failure on the destination: the fallback is tried and told in the reason. */
  const onDestination = async (status: Status, reason: string, run: StepRun, older: boolean): Promise<never> => {
    if (there.pid) {
      await there.remove();
      there.pid = 0;
    }
    fallback = await fallbackOnSource();
    throw Object.assign(new Stop(status, `${reason}; fallback on ${src.pool}: ${fallback.status === 'PASS' ? fallback.reason : `${fallback.status}: ${fallback.reason}`}`, run), older ? { older } : {});
  };
  const clientSaid = (r: ClientReport) =>
    net && !session ? `client on client node ${net.node.node.address} to ${net.address}:${port} after the restore: ${r.probes} probes, ${r.errors} errors` : `client there after the restore (serviceAddress ${pilot.serviceAddress}${net ? ', but a session program runs in the node image' : ''}: it reaches the service inside ${dst.pool}): ${r.probes} probes, ${r.errors} errors`;
  const heldSaid = (h: ClientReport) => {
    const how = h.heldSurvived ? `its connection answered throughout (longest gap ${Math.round(h.maxGapMs)} ms)` : `its connection was lost (${h.connects} connection(s), ${h.errors} failed answer(s)${h.firstError ? `, first: ${h.firstError}` : ''})`;
    if (net?.held) return `held client on client node ${net.node.node.address}, connected to ${net.address}:${port} from before the dump, the service address moved ${src.pool} → ${dst.pool}: ${how}`;
    const why = net ? `a session client runs its program in the node image, not on the client node (${net.note ?? 'not checked'}): its connection stays with ${src.pool}` : `serviceAddress stay: the service address stays on ${src.pool}`;
    return `held client on ${src.pool} from before the dump: ${how}${h.heldSurvived ? '' : `: ${why}`}`;
  };
  const probe = { env: src.env, criu: src.criu, commandMs: x.timeouts.commandMs };
  try {
    for (const [node, s] of [[src, at], [dst, there]] as const) {
      const user = await s.resolveUser();
      if (!user.ok) throw new Stop('ERROR', `the pilot does not fit the node image of ${node.pool}: ${user.detail}`);
    }
    if ('command' in pilot.service && pilot.service.user !== 'root') {
      // A service of its own user: dumped by root with CAP_SYS_RESOURCE, else as that user (pilot-dump-as.ts); restored by root.
      const plan = await planDumpAs(pilot.criu.dumpAs, pilot.service.user, (at as PilotService).ids!, probe);
      if (!('as' in plan)) throw new Stop(plan.status, plan.reason);
      who.dumpAs = plan;
    } else if ('container' in pilot.service && pilot.service.container.user !== 'root') {
      // The runtime runs CRIU as root: a container of another user needs root's CAP_SYS_RESOURCE.
      const missing = await missingCapability([OTHER_USER], probe);
      if (missing) throw new Stop(missing.status, `${missing.reason} (the service runs as ${pilot.service.container.user})`);
    }
    if (pilot.serviceAddress === 'move') {
      const o = x.addressMove;
      if (!o?.network) throw new Stop('ERROR', "harness: serviceAddress move needs the run's node network, but the run made none (a harness bug: a pilot pair that moves its address asks for one)");
      await mkdirPrivate(o.hostDir);
      const addr = new ServiceAddress(o.network, src, dst, 'move', (l) => commands.push(l));
      // From here unmove() undoes what was made (the client node, the address, the host files), whatever happens.
      pending = { addr, node: undefined, hostDir: o.hostDir };
      const address = await addr.claim(`pilot ${pilot.name} service address`);
      pending.node = new ClientNodeHost(await ClientNode.start(o.network, `pilot ${pilot.name} client`, { guard: o.guard }));
      net = { addr, address, node: pending.node, hostDir: o.hostDir, held: false };
      // Text clients (the prober) run on the client node; a session's program is the node image's, held on the source.
      if (pilot.client && !session) {
        client = new PilotClient(net.node, clientArgv(o.probe, pilot.client, 2000, true, net.address), `${o.hostDir}/client.out`, false);
        if (holder) holder = new PilotClient(net.node, clientArgv(o.probe, pilot.client, 2 * x.timeouts.criuMs, false, net.address), `${o.hostDir}/held.out`, true);
        net.held = Boolean(holder);
      } else if (session) {
        const program = pilot.client!.session!.command[0]!;
        const found = await net.node.exec(['sh', '-c', 'command -v "$1"', 'sh', program], { timeoutMs: x.timeouts.commandMs });
        net.note = found.exitCode === 0 ? `${program} exists on the client node (this host), but the session's command names the address it reaches, which the harness does not rewrite` : `${program} does not exist on the client node (this host's programs)`;
      }
      commands.push(`service address ${net.address} on ${src.pool}; client node ${net.node.node.address}${net.held ? ` holds a connection to ${net.address}:${port}` : ''}`);
    }
    // CRIU restores every task with its PID: the service's tree starts where a range of PIDs is free on the destination.
    if ('command' in pilot.service) await placePids(src.env, dst.env, x.signal, PID_WINDOW);
    const w = await at.prepareWritable();
    if (!w.ok) throw new Stop('ERROR', `on ${src.pool}: ${w.detail}`);
    const started = await at.start();
    if (!started.ok) throw new Stop('ERROR', `baseline broke on ${src.pool}: ${started.detail}`);
    for (const step of [() => at.waitReady(), () => at.runsAsUser(), () => at.steps('seed')]) {
      const r = await step();
      if (!r.ok) throw new Stop('ERROR', `baseline broke on ${src.pool}: ${r.detail}`);
    }
    if (holder) {
      await holder.start();
      if (!(await holder.waitProbes(3, FIRST_ANSWERS_MS))) throw new Stop('ERROR', `baseline broke on ${src.pool}: the held client got no 3 answers within ${FIRST_ANSWERS_MS / 1000} s after the service was ready`);
      const seen = readClientLines(await holder.lines(), true);
      const where = net?.held ? ` from client node ${net.node.node.address} at ${net.address}:${port} (serviceAddress move: the service must listen on that address or on all addresses, not only on 127.0.0.1)` : '';
      if (!seen.heldSurvived) throw new Stop('ERROR', `baseline broke on ${src.pool}: the held client's first answers were wrong or failed${where}: ${seen.firstError ?? `${seen.connects} connection(s)`}`);
    }
    if (who.dumpAs.as === 'service-user') {
      const refused = await treeRefusal(who.dumpAs, at.pid, probe);
      if (refused) throw new Stop(refused.status, refused.reason);
    }
    await move.beforeCheckpoint?.();
    const down = performance.now();
    const ck = await move.checkpoint(figures);
    if (!ck.ok) throw new Stop(failureStatus(ck.diagnoses), `on ${src.pool}: ${move.failure('checkpoint', ck)}`, ck);
    checkpointed = true;
    if (!(await at.waitGone(5000))) throw new Stop('FAIL', `the checkpoint exited 0 but the service is still running on ${src.pool}`, ck);
    // The address (and CRIU's lock of the held connection) to the destination, before the restore.
    if (net) await net.addr.handOver(net.node.node, net.held);
    figures.transferMs = await move.carry();
    const restore = await move.restore('destination');
    if (!restore.ok) await onDestination(failureStatus(restore.diagnoses), `on ${dst.pool}: ${move.failure('restore', restore)}`, restore, true);
    figures.restoreMs = restore.result.durationMs;
    const again = await there.waitReady();
    if (!again.ok) await onDestination('FAIL', `the service restored on ${dst.pool}: ${again.detail}`, restore, false);
    if (client) {
      await client.start();
      // Unreachable for its clients is as broken as not restored: the playbook's fallback is tried.
      if (!(await client.waitProbes(1, 2 * x.timeouts.criuMs))) {
        report = await client.stop().catch(() => undefined);
        await onDestination('FAIL', `the service restored on ${dst.pool} is ready, but a client there got no answer within ${2 * x.timeouts.criuMs} ms`, restore, false);
      }
    }
    figures.downtimeMs = performance.now() - down;
    const verify = await there.steps('verify');
    if (!verify.ok) await onDestination('FAIL', `the service restored on ${dst.pool}: ${verify.detail}`, restore, false);
    if (client) await client.waitProbes(5, 2 * x.timeouts.criuMs);
    report = client ? await client.stop() : undefined;
    // The held client had as long as the fresh one on the destination, and one more chance: an answer now, or it is lost.
    if (holder) {
      const wait = Math.max(2000, 10 * pilot.client!.intervalMs);
      const answered = await holder.waitProbes(1, wait);
      held = await holder.stop(5000, answered ? undefined : `no answer on the held connection on ${src.pool} within ${wait} ms after the service verified on ${dst.pool}`);
    }
    ending = { status: 'PASS', reason: `the service restored on ${dst.pool} verified${pilot.verify.length ? ` (${pilot.verify.length} verify step(s))` : ''}; downtime ${Math.round(figures.downtimeMs)} ms (dump start to the first right answer on ${dst.pool})${report ? `; ${clientSaid(report)}` : ''}${held ? `; ${heldSaid(held)}` : ''}` };
  } catch (e) {
    if (e instanceof TransferTamperedError) ending = { status: 'ERROR', reason: e.message };
    else if (e instanceof Stop) ending = { status: e.status, reason: e.message, run: e.run, older: 'older' in e };
    else if (e instanceof NetworkContinuityError || e instanceof EnvironmentError) ending = { status: 'ERROR', reason: `harness: ${e.message}` };
    else {
      await cleanup([at, there], client, holder);
      await unmove(pending);
      throw e;
    }
  }
  if (who.dumpAs.as === 'service-user' && commands.length) ending.reason += ` (dumped as ${who.dumpAs.user} with criu --unprivileged: ${who.dumpAs.why})`;
  report ??= client?.pid ? await client.stop().catch(() => undefined) : undefined;
  const output = [...(await at.lines()).map((l) => `service on ${src.pool}: ${l}`), ...(checkpointed ? (await there.lines()).map((l) => `service on ${dst.pool}: ${l}`) : [])].slice(-40);
  await cleanup([at, there], client, holder);
  await unmove(pending);
  if (report) {
    figures.clientErrors = report.errors;
    figures.clientProbes = report.probes;
  }
  // Only a held client that saw the whole move measured whether its connection survived it.
  if (held) figures.heldConnectionSurvived = held.heldSurvived ? 1 : 0;
  // A reconnecting client's gap is the downtime; a held connection that followed the service saw its own gap (the longer one counts).
  if (figures.downtimeMs !== undefined) figures.clientGapMs = Math.max(figures.downtimeMs, held?.heldSurvived ? held.maxGapMs : 0);
  if (held?.heldSurvived && report) {
    figures.clientErrors = report.errors + held.errors;
    figures.clientProbes = report.probes + held.probes;
  }
  const skew = ending.older && ending.status === 'FAIL' ? olderCriuOnDestination(src, dst) : undefined;
  // What CRIU's log said comes first (it names the cause); the version skew is context, decided from the two versions alone.
  const diagnoses = [...(ending.run?.diagnoses ?? []), ...(skew ? [skew] : [])];
  return { status: ending.status, reason: ending.reason, figures, diagnoses, logExcerpt: ending.run && ending.status !== 'PASS' ? ending.run.excerpt : [], commands, output, ...(fallback ? { fallback } : {}) };
}

async function cleanup(services: readonly PilotSubject[], ...clients: (PilotClient | undefined)[]): Promise<void> {
  for (const client of clients) if (client?.pid) await client.stop(2000).catch(() => undefined);
  for (const s of services) await s.remove();
}

/** The service address and the client node gone, their files too; never throws. */
async function unmove(net: { addr: ServiceAddress; node: ClientNodeHost | undefined; hostDir: string } | undefined): Promise<void> {
  if (!net) return;
  await net.node?.node.dispose().catch(() => undefined);
  await net.addr.close();
  await removeTree(net.hostDir);
}
