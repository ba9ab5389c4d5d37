import { redactUrlsIn } from '../util/redact.ts';

/**
 * One live line per pool. On a terminal the block is redrawn in place; in
 * CI logs (not a TTY) each change is printed once as a plain line.
 */
export class Progress {
  private readonly lines = new Map<string, string>();
  private readonly tty: boolean;
  private drawn = 0;
  private readonly out: NodeJS.WriteStream;
  private last = 0;
  private pending?: NodeJS.Timeout | undefined;

  constructor(out: NodeJS.WriteStream = process.stderr, enabled = true) {
    this.out = out;
    this.tty = enabled && Boolean(out.isTTY) && process.env.TERM !== 'dumb';
    if (!enabled) this.update = () => {};
  }

  /** Transient states (a test starting, a test passing) are only drawn on a terminal, not logged. */
  update(pool: string, raw: string, transient = false): void {
    const text = redactUrlsIn(raw); // a mirror's credentials never reach the log
    if (this.lines.get(pool) === text) return;
    this.lines.set(pool, text);
    if (!this.tty) {
      if (transient) return;
      this.out.write(`[${pool}] ${text}\n`);
      return;
    }
    // Redraw at most every 50 ms; the last state always lands.
    const now = Date.now();
    if (now - this.last < 50) {
      this.pending ??= setTimeout(() => {
        this.pending = undefined;
        this.draw();
      }, 50);
      return;
    }
    this.draw();
  }

  private draw(): void {
    this.last = Date.now();
    const width = Math.max(...[...this.lines.keys()].map((k) => k.length));
    const cols = this.out.columns || 100;
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const [pool, text] of this.lines) s += `\x1b[2K${`${pool.padEnd(width)}  ${text}`.slice(0, cols - 1)}\n`;
    this.drawn = this.lines.size;
    this.out.write(s);
  }

  /** Leaves the block as it is and stops redrawing. */
  done(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
    if (this.tty && this.lines.size) this.draw();
  }
}
