import { UsageError } from '../errors.ts';

/**
 * The time artifacts are judged by (kept at, expired?): the clock, unless
 * CRIU_COMPAT_NOW (an ISO time or epoch milliseconds) says otherwise. Tests
 * move time forward with it instead of sleeping through a TTL.
 */
export function artifactsNow(env: NodeJS.ProcessEnv = process.env): Date {
  const v = env.CRIU_COMPAT_NOW;
  return v ? parseInstant(v, 'CRIU_COMPAT_NOW') : new Date();
}

/** An ISO time or epoch milliseconds; anything else is a UsageError (exit 2). */
export function parseInstant(text: string, what: string): Date {
  const d = /^\d+$/.test(text) ? new Date(Number(text)) : new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${what} takes an ISO time (2026-11-30T12:00:00Z) or epoch milliseconds (got "${text}")`);
  return d;
}
