import { UsageError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import { redactUrl } from '../util/redact.ts';

/** What debootstrap and apt take as a mirror. */
const SCHEMES = ['http:', 'https:', 'ftp:', 'file:'];

/** Why VALUE is not a usable mirror URL, or undefined when it is. */
export function mirrorUrlProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'not a URL';
  }
  if (!SCHEMES.includes(u.protocol)) return `scheme "${u.protocol.slice(0, -1)}" is not one debootstrap and apt fetch from`;
  if (u.protocol !== 'file:' && !u.hostname) return 'no host';
  if (/\s/.test(value)) return 'it contains white space';
  return undefined;
}

/**
 * Refuses a bad --mirror flag or $CRIU_COMPAT_MIRROR before any work, in one
 * line that shows the value with its credentials masked.
 */
export function checkMirrorInputs(flag: string | undefined, env: string | undefined = process.env.CRIU_COMPAT_MIRROR): void {
  for (const [what, value] of [
    ['--mirror', flag],
    ['$CRIU_COMPAT_MIRROR', env],
  ] as const) {
    if (value === undefined || (what !== '--mirror' && value === '')) continue;
    const problem = mirrorUrlProblem(value);
    if (problem) throw new UsageError(`${what} takes a Debian mirror URL (http://, https://, ftp:// or file://, e.g. http://mirror.example.invalid/debian); got "${shown(value)}": ${problem}`);
  }
}

/** A value as a message may show it: credentials masked even when it is not a well-formed URL, control characters escaped. */
function shown(value: string): string {
  const masked = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(value) ? redactUrl(value) : value.replace(/^[^@]*@/, '***@').replace(/([?&][^=&]*=)[^&]*/g, '$1***');
  return escapeControl(masked);
}
