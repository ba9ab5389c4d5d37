import type { Pilot } from '../config/pilot-schema.ts';
import type { Environment } from '../environments/environment.ts';
import { poll } from '../util/wait-until.ts';

/** What the client saw over one attempt, from its own lines (fixtures/probes/cc-probe.c). */
export interface ClientReport {
  probes: number;
  /** Wrong or failed answers. */
  errors: number;
  /** The longest time without a right answer (ms, the prober's monotonic clock): between two right answers, or from the last one (or the start) to the end. */
  maxGapMs: number;
  /** held or session: connections (session programs) made (1 = the same one throughout). */
  connects: number;
  /** held: the first connection answered to the end (no failure, no reconnect). */
  heldSurvived?: boolean;
  /** The first failure's detail, for the reason. */
  firstError?: string;
  /** Its "stop" line was seen: it probed to the end. Without it (it crashed, or was killed when the stop timed out) it saw only part of the stage. */
  complete: boolean;
}

/**
 * Reads the prober's lines: "T start MODE", "T connect N", "T ok MS DETAIL",
 * "T fail MS DETAIL", "T stop …". Lines it does not know are ignored.
 */
export function readClientLines(lines: readonly string[], held: boolean): ClientReport {
  let start: number | undefined;
  let lastOk: number | undefined;
  let end: number | undefined;
  let probes = 0;
  let errors = 0;
  let connects = 0;
  let maxGapMs = 0;
  let firstError: string | undefined;
  let stopped = false;
  for (const l of lines) {
    const m = /^(\d+) (start|connect|ok|fail|stop)\b ?(.*)$/.exec(l);
    if (!m) continue;
    const t = Number(m[1]);
    end = t;
    if (m[2] === 'start') start = t;
    else if (m[2] === 'stop') stopped = true;
    else if (m[2] === 'connect') connects++;
    else if (m[2] === 'ok') {
      probes++;
      const from = lastOk ?? start ?? t;
      maxGapMs = Math.max(maxGapMs, t - from);
      lastOk = t;
    } else if (m[2] === 'fail') {
      probes++;
      errors++;
      firstError ??= m[3]!.replace(/^\d+ /, '');
    }
  }
  // From the last right answer (or the start) to the end is a gap too: failed answers since, or a probe
  // still waiting when the prober stopped (it counts no answer for that one), are time without a right answer.
  if (end !== undefined) maxGapMs = Math.max(maxGapMs, end - (lastOk ?? start ?? end));
  return {
    probes,
    errors,
    maxGapMs,
    connects,
    ...(held ? { heldSurvived: connects === 1 && errors === 0 && probes > 0 } : {}),
    ...(firstError ? { firstError } : {}),
    complete: stopped,
  };
}

/**
 * The prober's argv for a pilot's client; reconnect: a held client asks over
 * a fresh connection each time instead (a session client: a fresh program
 * for each probe). A session's program runs as its user (runuser) with its
 * environment (env), in the prober's process group of its own.
 */
export function clientArgv(probe: string, client: NonNullable<Pilot['client']>, timeoutMs: number, reconnect = false): string[] {
  const interval = String(client.intervalMs);
  const t = String(timeoutMs);
  if (client.held) return [probe, 'run', reconnect ? 'ask' : 'held', '127.0.0.1', String(client.held.port), interval, t, client.held.send, client.held.expect];
  if (client.session) {
    const s = client.session;
    const as = s.user && s.user !== 'root' ? ['runuser', '-u', s.user, '--'] : [];
    const env = Object.keys(s.env).length ? ['env', ...Object.entries(s.env).map(([k, v]) => `${k}=${v}`)] : [];
    return [probe, 'run', reconnect ? 'spawn' : 'session', interval, t, s.send, s.expect, ...as, ...env, ...s.command];
  }
  if (client.http) return [probe, 'run', 'http', '127.0.0.1', String(client.http.port), interval, t, client.http.path, String(client.http.status), ...(client.http.body ? [client.http.body] : [])];
  return [probe, 'run', 'tcp', '127.0.0.1', String(client.tcp!.port), interval, t];
}

/** The client process: started beside the service (its own session, not in the service's tree), stopped with SIGTERM. */
export class PilotClient {
  pid = 0;
  private readonly env: Environment;
  private readonly argv: string[];
  private readonly outFile: string;
  readonly held: boolean;

  constructor(env: Environment, argv: string[], outFile: string, held: boolean) {
    this.env = env;
    this.argv = argv;
    this.outFile = outFile;
    this.held = held;
  }

  async start(): Promise<void> {
    this.pid = await this.env.spawnDetached(this.argv, { outFile: this.outFile });
  }

  async lines(): Promise<string[]> {
    const buf = await this.env.readFile(this.outFile).catch(() => Buffer.alloc(0));
    return buf.toString('utf8').split('\n').filter(Boolean);
  }

  /** Waits until it has given N answers (right or wrong) since the call, so a stage starts with the client in full swing. */
  async waitProbes(n: number, timeoutMs: number): Promise<boolean> {
    const count = async () => (await this.lines()).filter((l) => / (ok|fail) /.test(l)).length;
    const from = await count();
    return (await poll(async () => ((await count()) >= from + n ? true : undefined), { intervalMs: 20, timeoutMs })) ?? false;
  }

  /**
   * Stops it (TERM, its "stop" line awaited, then KILL) and reads what it saw.
   * quiet: it gave no answer in the time it was last given (a probe still
   * waiting is not counted by the prober): a held connection that went
   * silent did not survive, even with no failed answer.
   */
  async stop(timeoutMs = 5000, quiet?: string): Promise<ClientReport> {
    if (this.pid) {
      await this.signal('TERM');
      await poll(async () => ((await this.lines()).some((l) => / stop /.test(l)) || !(await this.env.isRunning(this.pid)) ? true : undefined), { intervalMs: 20, timeoutMs });
      await this.signal('KILL');
    }
    const report = readClientLines(await this.lines(), this.held);
    return quiet && report.heldSurvived ? { ...report, heldSurvived: false, firstError: report.firstError ?? quiet } : report;
  }

  private async signal(sig: string): Promise<void> {
    if (this.env.signal) await this.env.signal(this.pid, sig).catch(() => false);
    else await this.env.exec(['sh', '-c', `kill -${sig} ${this.pid} 2>/dev/null; true`], { timeoutMs: 5000 }).catch(() => undefined);
  }
}
