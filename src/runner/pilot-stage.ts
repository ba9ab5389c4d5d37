import type { Capability } from '../config/catalogue/index.ts';
import { holdsConnection, type Pilot } from '../config/pilot-schema.ts';
import type { Settings } from '../config/schema.ts';
import { dumpArgs, preDumpArgs, restoreArgs } from '../criu/commands.ts';
import type { Diagnosis } from '../criu/diagnose.ts';
import { describeFailure, type Criu, type CriuRun } from '../criu/driver.ts';
import { failureStatus } from '../criu/diagnose.ts';
import { readCriuStats } from '../criu/stats.ts';
import type { Environment } from '../environments/environment.ts';
import type { Status } from '../results/schema.ts';
import { missingCapability } from './capabilities.ts';
import { PilotClient, clientArgv, type ClientReport } from './pilot-client.ts';
import { pilotCriuArgs } from './pilot-criu-options.ts';
import { PilotService, type PilotSubject } from './pilot-service.ts';
import { DumpDirsError, OTHER_USER, planDumpAs, runDumpAs, treeRefusal, type DumpIdentity } from './pilot-dump-as.ts';
import { PilotContainer, makePilotContainer, pilotRuntime, runtimeFlags } from './pilot-container.ts';
import { ContainerRootfsError } from './pilot-container-rootfs.ts';
import { describeRuntimeFailure } from '../runtimes/container-runtime.ts';
import type { RuntimeInfo } from '../runtimes/detect.ts';

/** The stages of one pilot on one pool, variants included (see PILOT-CONTRACT: check NAME/STAGE). */
export type PilotStage = 'start' | 'leave-running' | 'checkpoint-restore' | 'checkpoint-restore/reconnect' | 'checkpoint-restore/pre-copy';

/** The numbers one attempt measured (absent: not measured in this attempt). */
export interface PilotFigures {
  freezeMs?: number;
  checkpointMs?: number;
  restoreMs?: number;
  imageBytes?: number;
  clientGapMs?: number;
  clientErrors?: number;
  clientProbes?: number;
  /** held client: 1 when the first connection answered throughout, else 0. */
  heldConnectionSurvived?: number;
  /** migration: moving the images and the writable dirs' contents to the destination. */
  transferMs?: number;
  /** migration: from the dump's start to the first right answer on the destination. */
  downtimeMs?: number;
  /** 1: dumped as the service's user with --unprivileged (not as root, as a production node's root would). */
  unprivilegedDump?: number;
}

export interface PilotAttempt {
  status: Status;
  reason: string;
  figures: PilotFigures;
  diagnoses: Diagnosis[];
  logExcerpt: string[];
  commands: string[];
  /** The service's last lines and the client's summary (never memory contents). */
  output: string[];
  /** migration: the playbook's fallback after the destination failed (the same images restored on the source, verified there). */
  fallback?: { status: Status; reason: string };
}

export interface StageContext {
  env: Environment;
  criu: Criu;
  pilot: Pilot;
  /** Directory inside the node for this attempt (images, logs, outputs). */
  dir: string;
  /** The client prober inside the node. */
  probe: string;
  timeouts: Settings['timeouts'];
  signal?: AbortSignal | undefined;
  /** Container services: the node image's runtimes (its inventory), the pool's CRIU environment, and a tag unique to the node (names the containers' cgroups). */
  containers?: { runtimes: RuntimeInfo[]; criuEnv: Record<string, string>; tag: string } | undefined;
}

/** A CRIU or runtime command as the attempt records it (a runtime's run has no "hung"). */
export type StepRun = Omit<CriuRun, 'hung'>;

/** What pre-copy needs: the kernel tracks the pages written since the pre-dump. */
const DIRTY_TRACKING: Capability = { kind: 'criu-feature', name: 'mem_dirty_track', why: 'memory dirty tracking, needed by pre-copy' };

/** How long a client may take for its first answers once the service is ready (a baseline, not a measurement). */
export const FIRST_ANSWERS_MS = 30_000;

/** Ends an attempt early with its status (a step that failed). */
export class Stop extends Error {
  readonly status: Status;
  readonly run: StepRun | undefined;
  constructor(status: Status, reason: string, run?: StepRun) {
    super(reason);
    this.status = status;
    this.run = run;
  }
}

/**
 * One attempt of a stage: a fresh service (writable dirs, started as its
 * user, ready, seeded), the client probing from outside its tree, then the
 * stage's checkpoint, then ready again and verify, the client still probing;
 * everything it started removed before it returns. Throws only when the
 * harness cannot go on.
 */
export async function attemptStage(stage: PilotStage, x: StageContext): Promise<PilotAttempt> {
  const { env, pilot, dir } = x;
  await env.makeDir(`${dir}/img`);
  const made = await subjectOf(stage, x);
  if (made instanceof Stop) return { status: made.status, reason: made.message, figures: {}, diagnoses: [], logExcerpt: [], commands: [], output: [] };
  const service = made;
  const container = service instanceof PilotContainer ? service : undefined;
  service.signal = x.criu.signal = x.signal;
  const reconnect = stage === 'checkpoint-restore/reconnect';
  const held = holdsConnection(pilot.client) && !reconnect;
  // A held connection waits for its answer through a whole checkpoint; a fresh one gives up sooner and asks again.
  const client = pilot.client ? new PilotClient(env, clientArgv(x.probe, pilot.client, held ? 2 * x.timeouts.criuMs : 2000, reconnect), `${dir}/client.out`, held) : undefined;
  const figures: PilotFigures = {};
  const commands: string[] = [];
  const runs: StepRun[] = [];
  const record = <R extends StepRun>(run: R) => (commands.push(run.argv.join(' ').replaceAll(`${dir}/`, '')), runs.push(run), run);
  // Reconnecting clients knock on the listener during the dump: the variant drops those half-open connections (they retry).
  const criuArgs = pilotCriuArgs(reconnect ? [...new Set([...pilot.criu.options, '--skip-in-flight'])] : pilot.criu.options, reconnect ? ['--tcp-established'] : []);
  const baseline = stage === 'start' ? 'FAIL' : 'ERROR';
  let ending: { status: Status; reason: string; run?: StepRun | undefined };
  let report: ClientReport | undefined;
  /** The checkpoint's size where the runtime keeps it (podman), measured right after it. */
  let kept: number | undefined;
  let dumpAs: DumpIdentity = { as: 'root' };
  try {
    // CRIU reads the rlimits of every task it dumps; for another user's task the kernel wants CAP_SYS_RESOURCE.
    const user0 = 'command' in pilot.service ? pilot.service.user : pilot.service.container.user;
    if (stage !== 'start' && user0 !== 'root' && container) {
      const missing = await missingCapability([OTHER_USER], { env, criu: x.criu, commandMs: x.timeouts.commandMs });
      if (missing) throw new Stop(missing.status, `${missing.reason} (the service runs as ${user0})`);
    }
    if (stage === 'checkpoint-restore/pre-copy') {
      const dirty = await missingCapability([DIRTY_TRACKING], { env, criu: x.criu, commandMs: x.timeouts.commandMs });
      if (dirty) throw new Stop(dirty.status, dirty.reason, dirty.run as CriuRun | undefined);
    }
    const user = await service.resolveUser();
    if (!user.ok) throw new Stop('ERROR', `the pilot does not fit this node image: ${user.detail}`);
    // Who dumps it: root, or (root lacking CAP_SYS_RESOURCE here) the service's own user with --unprivileged.
    if (stage !== 'start' && user0 !== 'root' && service instanceof PilotService) {
      const plan = await planDumpAs(pilot.criu.dumpAs, user0, service.ids!, probeOf(x));
      if (!('as' in plan)) throw new Stop(plan.status, plan.reason);
      dumpAs = plan;
    }
    const w = await service.prepareWritable();
    if (!w.ok) throw new Stop('ERROR', w.detail);
    const started = await service.start();
    if (!started.ok) throw new Stop(baseline, `${stage === 'start' ? '' : 'baseline broke: '}${started.detail}`, container?.failedRun);
    const ready = await service.waitReady();
    if (!ready.ok) throw new Stop(baseline, `${stage === 'start' ? '' : 'baseline broke: '}the service ${ready.detail}`);
    const as = await service.runsAsUser();
    if (!as.ok) throw new Stop(baseline, `${stage === 'start' ? '' : 'baseline broke: '}the service ${as.detail}`);
    const seed = await service.steps('seed');
    if (!seed.ok) throw new Stop(baseline, `${stage === 'start' ? '' : 'baseline broke: '}${seed.detail}`);
    if (client) {
      await client.start();
      // A session's first answer includes starting its program and logging in (psql: ~5 s under TCG).
      if (!(await client.waitProbes(3, FIRST_ANSWERS_MS))) throw new Stop(baseline, `the client got no 3 answers within ${FIRST_ANSWERS_MS / 1000} s after the service was ready`);
    }
    const log = (name: string) => ({ logFile: `${dir}/img/${name}`, verbosity: 4 as const });
    if (dumpAs.as === 'service-user') {
      const refused = await treeRefusal(dumpAs, service.pid, probeOf(x));
      if (refused) throw new Stop(refused.status, refused.reason);
    }
    /** A dump or pre-dump: as root, or as the service's user inside the attempt's directory lent to it (paths relative to it), taken back after. */
    const dumpRun = async (args: (at: (sub: string) => string) => string[], logFile: string, subdirs: string[]): Promise<CriuRun> => {
      let run: CriuRun;
      try {
        run = await runDumpAs(dumpAs, { env, criu: x.criu, dir, commandMs: x.timeouts.commandMs }, args, logFile, subdirs);
      } catch (e) {
        throw e instanceof DumpDirsError ? new Stop('ERROR', e.message) : e;
      }
      // Root could not read another user's rlimits (nginx's www-data workers) where it lacks CAP_SYS_RESOURCE: a missing capability, not a broken tuple.
      if (!run.ok && !container && run.diagnoses.some((d) => d.id === 'rlimit-other-user') && (await missingCapability([OTHER_USER], probeOf(x)))?.status === 'SKIP') {
        const tree = await treeRefusal({ user: 'root', uid: '0', gid: '0', why: 'root lacks it on this node' }, service.pid, probeOf(x));
        throw new Stop('SKIP', tree?.reason ?? `capability missing: ${OTHER_USER.name} (${OTHER_USER.why}): root lacks it on this node (criu: rlimit-other-user)`, run);
      }
      return run;
    };
    if (container && stage !== 'start') {
      const rt = container.runtime.name;
      const note = container.criuConfigNote();
      if (note) commands.push(note);
      const { flags } = runtimeFlags(rt, containerOptions(stage, pilot));
      const failed = (what: string, run: StepRun) => new Stop(failureStatus(run.diagnoses), describeRuntimeFailure(`${rt} ${what}`, run, x.timeouts.criuMs), run);
      if (stage === 'leave-running') {
        const ck = record(await container.checkpoint(`${dir}/img`, { ...flags, leaveRunning: true }));
        if (!ck.ok) throw failed('checkpoint --leave-running', ck);
        figures.checkpointMs = ck.result.durationMs;
        if (ck.printedStats?.['criu.frozenTimeUs'] !== undefined) figures.freezeMs = ck.printedStats['criu.frozenTimeUs'] / 1000;
        kept = await container.keptImageBytes();
        if (!(await service.alive())) throw new Stop('FAIL', `${rt} checkpoint --leave-running exited 0 but the container is not running`, ck);
      } else {
        if (stage === 'checkpoint-restore/pre-copy') {
          const pre = record(await container.checkpoint(`${dir}/pre`, { ...flags, preDump: true }));
          if (!pre.ok) throw failed('checkpoint --pre-dump', pre);
        }
        const ck = record(await container.checkpoint(`${dir}/img`, { ...flags, ...(stage === 'checkpoint-restore/pre-copy' ? { parentImageDir: '../pre' } : {}) }));
        if (!ck.ok) throw failed('checkpoint', ck);
        figures.checkpointMs = ck.result.durationMs;
        if (ck.printedStats?.['criu.frozenTimeUs'] !== undefined) figures.freezeMs = ck.printedStats['criu.frozenTimeUs'] / 1000;
        kept = await container.keptImageBytes();
        if (!(await service.waitGone(5000))) throw new Stop('FAIL', `${rt} checkpoint exited 0 but the container is still running`, ck);
        const rs = record(await container.restore(`${dir}/img`, flags));
        if (!rs.ok) throw failed('restore', rs);
        figures.restoreMs = rs.result.durationMs;
      }
    } else if (stage === 'leave-running') {
      const dump = record(await dumpRun((at) => [...dumpArgs({ pid: service.pid, imagesDir: at('img'), logFile: 'dump.log', verbosity: 4, leaveRunning: true }), ...criuArgs.dump], log('dump.log').logFile, ['img']));
      if (!dump.ok) throw new Stop(failureStatus(dump.diagnoses), describeFailure('criu dump --leave-running', dump, x.timeouts.criuMs), dump);
      figures.checkpointMs = dump.result.durationMs;
      if (!(await service.alive())) throw new Stop('FAIL', 'criu dump --leave-running exited 0 but the service is gone', dump);
    } else if (stage !== 'start') {
      if (stage === 'checkpoint-restore/pre-copy') {
        await env.makeDir(`${dir}/pre`);
        const pre = record(await dumpRun((at) => preDumpArgs({ pid: service.pid, imagesDir: at('pre'), logFile: 'pre-dump.log', verbosity: 4, trackMem: true }), `${dir}/pre/pre-dump.log`, ['pre']));
        if (!pre.ok) throw new Stop(failureStatus(pre.diagnoses), describeFailure('criu pre-dump', pre, x.timeouts.criuMs), pre);
      }
      const parent = stage === 'checkpoint-restore/pre-copy' ? { parent: '../pre', trackMem: true } : {};
      const dump = record(await dumpRun((at) => [...dumpArgs({ pid: service.pid, imagesDir: at('img'), logFile: 'dump.log', verbosity: 4, ...parent }), ...criuArgs.dump], log('dump.log').logFile, parent.parent ? ['img', 'pre'] : ['img']));
      if (!dump.ok) throw new Stop(failureStatus(dump.diagnoses), describeFailure('criu dump', dump, x.timeouts.criuMs), dump);
      figures.checkpointMs = dump.result.durationMs;
      if (!(await service.waitGone(5000))) throw new Stop('FAIL', 'criu dump exited 0 but the service is still running', dump);
      const restore = record(await x.criu.run([...restoreArgs({ imagesDir: `${dir}/img`, logFile: 'restore.log', verbosity: 4, detach: true }), ...criuArgs.restore], log('restore.log')));
      if (!restore.ok) throw new Stop(failureStatus(restore.diagnoses), describeFailure('criu restore', restore, x.timeouts.criuMs), restore);
      figures.restoreMs = restore.result.durationMs;
    }
    const what = stage === 'start' ? 'the service' : stage === 'leave-running' ? 'the service left running' : 'the restored service';
    const again = stage === 'start' ? { ok: true, alive: true, detail: '' } : await service.waitReady();
    if (!again.ok) throw new Stop('FAIL', `${what}: ${again.detail}`, runs.at(-1));
    const verify = await service.steps('verify');
    if (!verify.ok) throw new Stop('FAIL', `${what}: ${verify.detail}`, runs.at(-1));
    // A few more answers after verify: the client must see the service answer again (and on the same connection, when held).
    const answered = client ? await client.waitProbes(5, 2 * x.timeouts.criuMs) : true;
    report = client ? await client.stop(5000, answered ? undefined : `no 5 answers within ${2 * x.timeouts.criuMs} ms after verify`) : undefined;
    if (report?.heldSurvived === false)
      throw new Stop('FAIL', `${what} verified, but the client's held connection did not survive: ${report.connects} connection(s), ${report.errors} failed answer(s)${report.firstError ? ` (first: ${report.firstError})` : ''}`, runs.at(-1));
    ending = { status: 'PASS', reason: `${what} verified${dumpAs.as === 'service-user' ? ` (dumped as ${dumpAs.user} with criu --unprivileged: ${dumpAs.why})` : ''}${pilot.verify.length ? ` (${pilot.verify.length} verify step(s))` : ''}${report ? `; client: ${report.probes} probes, ${report.errors} errors, longest gap ${Math.round(report.maxGapMs)} ms${report.heldSurvived ? ', held connection survived' : ''}` : ''}` };
  } catch (e) {
    if (!(e instanceof Stop)) {
      await cleanup(service, client);
      throw e;
    }
    ending = { status: e.status, reason: e.message, run: e.run };
    // A dump that ran as the service's user says so: a root dump on a production node is not the same run.
    if (dumpAs.as === 'service-user' && runs.length) ending.reason += ` (dumped as ${dumpAs.user} with criu --unprivileged: ${dumpAs.why})`;
  }
  if (dumpAs.as === 'service-user' && figures.checkpointMs !== undefined) figures.unprivilegedDump = 1;
  // A client that never started measured nothing (a stage that ended before it).
  report ??= client?.pid ? await client.stop().catch(() => undefined) : undefined;
  const output = [...(await service.lines()).map((l) => `service: ${l}`), ...(client ? (await client.lines()).filter((l) => / (fail|connect|stop|start) /.test(l)).slice(0, 20).map((l) => `client: ${l}`) : [])];
  await cleanup(service, client);
  // A prober that ended without its stop line saw part of the stage only: its numbers are not the stage's (the criteria read "not measured").
  if (report && !report.complete) output.push(`client: ended without its stop line (crashed, or killed when the stop timed out): its numbers cover part of the stage only and are not counted`);
  if (report?.complete) {
    figures.clientGapMs = report.maxGapMs;
    figures.clientErrors = report.errors;
    figures.clientProbes = report.probes;
    if (report.heldSurvived !== undefined) figures.heldConnectionSurvived = report.heldSurvived ? 1 : 0;
  }
  // Only a checkpoint that was taken has a freeze, a duration and an image to count (a failed dump's numbers would flatter it).
  if (figures.checkpointMs !== undefined) {
    // runc and crun have CRIU write its stats into the work directory beside its logs; podman printed them (above).
    const stats = figures.freezeMs === undefined ? await readCriuStats(env, container ? `${dir}/img.work` : `${dir}/img`) : {};
    const frozenUs = stats.criuDump?.['frozenTimeUs'];
    figures.freezeMs ??= frozenUs !== undefined ? frozenUs / 1000 : figures.checkpointMs;
    const bytes = (kept ?? (await env.du(`${dir}/img`).catch(() => 0))) + (stage === 'checkpoint-restore/pre-copy' ? await env.du(`${dir}/pre`).catch(() => 0) : 0);
    if (bytes) figures.imageBytes = bytes;
  }
  return { status: ending.status, reason: ending.reason, figures, diagnoses: ending.run?.diagnoses ?? [], logExcerpt: ending.run && ending.status !== 'PASS' ? ending.run.excerpt : [], commands, output };
}

function probeOf(x: StageContext): { env: Environment; criu: Criu; commandMs: number } {
  return { env: x.env, criu: x.criu, commandMs: x.timeouts.commandMs };
}

async function cleanup(service: PilotSubject, client: PilotClient | undefined): Promise<void> {
  if (client?.pid) await client.stop(2000).catch(() => undefined);
  await service.remove();
}

/**
 * The attempt's service: a command in the node, or a container. A container
 * needs its runtime in the node image (a SKIP naming it when absent or
 * unable to checkpoint, for the stages that checkpoint), runtime flags for
 * every CRIU option the pilot names (a SKIP naming those it has none for),
 * and its root filesystem staged in the node (an ERROR when that fails).
 */
async function subjectOf(stage: PilotStage, x: StageContext): Promise<PilotSubject | Stop> {
  const { env, pilot, dir } = x;
  if ('command' in pilot.service) return new PilotService(env, pilot, { probe: x.probe, commandMs: x.timeouts.commandMs, outFile: `${dir}/service.out` });
  if (!x.containers) return new Stop('ERROR', `harness: no runtime inventory was handed to the stage of container pilot ${pilot.name}`);
  const options = containerOptions(stage, pilot);
  const info = pilotRuntime(x.containers.runtimes, pilot, { checkpoint: stage !== 'start', options, stage });
  if (typeof info === 'string') return new Stop('SKIP', info);
  try {
    return await makePilotContainer(env, pilot, { info, dir, probe: x.probe, timeouts: x.timeouts, criu: x.criu, criuEnv: x.containers.criuEnv, tag: x.containers.tag, criuConfig: stage === 'start' ? [] : runtimeFlags(info.name, options).config, signal: x.signal });
  } catch (e) {
    if (e instanceof ContainerRootfsError) return new Stop('ERROR', e.message);
    throw e;
  }
}

/** The CRIU options of a container stage: the pilot's; the reconnect variant drops --tcp-established and adds --skip-in-flight, as for a command service. */
function containerOptions(stage: PilotStage, pilot: Pilot): string[] {
  if (stage !== 'checkpoint-restore/reconnect') return pilot.criu.options;
  return [...new Set([...pilot.criu.options.filter((o) => o.replace(/=.*$/, '') !== '--tcp-established'), '--skip-in-flight'])];
}
