/**
 * Polling: check a condition every so often until it gives a value, a
 * deadline passes or a signal aborts. The pauses use unref'd timers (a
 * forgotten wait never keeps the process alive) that an abort cuts short.
 */

/** What a condition gives: a value ends the wait; undefined means "not yet". A throw ends the wait with that error. */
export type Condition<T> = () => T | undefined | Promise<T | undefined>;

export interface PollOptions {
  /** Pause between two checks. */
  intervalMs: number;
  /** The condition is checked at least once; after this long, no more. */
  timeoutMs: number;
  /** Stops the wait: it throws abortError() when given, else the signal's reason. */
  signal?: AbortSignal | undefined;
  abortError?: () => Error;
  /** Keep the process alive during the pauses: for a wait that may be the only thing the process does. */
  ref?: boolean;
}

export interface WaitOptions extends PollOptions {
  /** Makes the error thrown at the deadline, with the message to show; it may first gather logs or clean up. */
  timeout: () => Error | Promise<Error>;
}

/** Waits until the condition gives a value and returns it; throws the timeout error at the deadline. */
export async function waitUntil<T>(condition: Condition<T>, o: WaitOptions): Promise<T> {
  const v = await poll(condition, o);
  if (v !== undefined) return v;
  throw await o.timeout();
}

/** As waitUntil, but the deadline is an answer, not an error: undefined. */
export async function poll<T>(condition: Condition<T>, o: PollOptions): Promise<T | undefined> {
  const deadline = performance.now() + o.timeoutMs;
  for (;;) {
    stopIfAborted(o);
    const v = await condition();
    if (v !== undefined) return v;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    await pause(Math.min(o.intervalMs, Math.ceil(left)), o);
  }
}

function stopIfAborted(o: PollOptions): void {
  if (!o.signal?.aborted) return;
  if (o.abortError) throw o.abortError();
  o.signal.throwIfAborted();
}

function pause(ms: number, o: PollOptions): Promise<void> {
  const signal = o.signal;
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (!o.ref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
