import { errorCode, type ErrorCode } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import { redactUrlsIn } from '../util/redact.ts';

/** One line, whatever a bad file or flag held: no terminal escapes, no credentials. */
const line = (m: string) => escapeControl(redactUrlsIn(m));

/** node:util parseArgs's codes (ERR_PARSE_ARGS_UNKNOWN_OPTION, …) count as one. */
type Code = ErrorCode | 'ERR_PARSE_ARGS';

/** By the error's code: the CLI's exit status and how the message is shown. Any other error is an internal one (exit 2, with its stack). */
const ON_ERROR: Partial<Record<Code, { exit: number; show: (message: string) => string }>> = {
  CONFIG: { exit: 2, show: line },
  USAGE: { exit: 2, show: line },
  // A prerequisite list is ours: its install line stays a line of its own.
  PREREQUISITE: { exit: 2, show: (m) => m.split('\n').map(line).join('\n') },
  ERR_PARSE_ARGS: { exit: 2, show: (m) => `${line(m)} (see --help)` },
  INTERRUPTED: { exit: 130, show: line },
  // What broke outside the harness's own code (a build, a kernel, an environment): one line, exit 2 as for any ERROR.
  IMAGE: { exit: 2, show: line },
  KERNEL: { exit: 2, show: line },
  BUILD: { exit: 2, show: line },
  ENVIRONMENT: { exit: 2, show: line },
};

/** How the CLI ends on an error a command threw: its exit status and what it prints on stderr. */
export function onError(e: unknown): { exit: number; text: string } {
  const err = e as (Error & { code?: unknown }) | undefined;
  const code: Code | undefined = errorCode(e) ?? (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS') ? 'ERR_PARSE_ARGS' : undefined);
  const how = code ? ON_ERROR[code] : undefined;
  if (how) return { exit: how.exit, text: `criu-compat: ${how.show(err!.message)}` };
  return { exit: 2, text: `criu-compat: internal error: ${redactUrlsIn(String(err?.stack ?? err))}` };
}
