import type { TimelineEvent } from '../results/schema.ts';

/**
 * The moments of one attempt, in milliseconds since it started (a tenth of
 * a millisecond at most): what a reader of `explain` needs to see where the
 * time went and where it stopped. Marking costs one clock read.
 */
export class Timeline {
  readonly events: TimelineEvent[] = [];
  private readonly t0: number;
  constructor(t0 = performance.now()) {
    this.t0 = t0;
  }

  mark(event: string): void {
    this.events.push({ atMs: Math.max(0, Math.round((performance.now() - this.t0) * 10) / 10), event });
  }

  /** Marks "STEP start" (or BEGIN), runs it, marks "STEP end" (or END) with how it ended (from DESCRIBE, or "threw"). */
  async around<T>(step: string, f: () => Promise<T>, describe?: (r: T) => string | undefined, [begin, end] = [`${step} start`, `${step} end`]): Promise<T> {
    this.mark(begin);
    try {
      const r = await f();
      const how = describe?.(r);
      this.mark(`${end}${how ? `: ${how}` : ''}`);
      return r;
    } catch (e) {
      this.mark(`${end}: threw`);
      throw e;
    }
  }
}

/** How a command-like step ended, for a timeline: "ok", "exit 1", "timed out", "killed by SIGSEGV". */
export function runEnding(r: { ok: boolean; result: object; killedBy?: string | undefined }): string {
  if (r.ok) return 'ok';
  const res = r.result as { exitCode?: number; timedOut?: boolean };
  if (res.timedOut) return 'timed out';
  if (r.killedBy) return `killed by ${r.killedBy}`;
  return res.exitCode === undefined ? 'failed' : `exit ${res.exitCode}`;
}
