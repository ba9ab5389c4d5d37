import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';

/** a.b[2].c — how messages name a place inside a file (control characters in keys escaped). */
export function formatPath(path: readonly PropertyKey[]): string {
  return escapeControl(path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join(''));
}

/**
 * The one way a schema violation in a user's file (config, policy, results,
 * baseline) becomes an error: file, path inside it (and its line when
 * LINE_OF knows it), what was expected.
 */
export function issueToError(file: string, issue: z.core.$ZodIssue, what?: string, lineOf?: (path: readonly PropertyKey[]) => number | undefined): ConfigError {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${escapeControl(k)}"`).join(', ');
    const path = [...issue.path, issue.keys[0]!];
    return new ConfigError(file, formatPath(path), `no such key (unknown: ${keys}); check the spelling against the README's reference`, lineOf?.(path));
  }
  return new ConfigError(file, formatPath(issue.path), escapeControl(what ? `${what}: ${issue.message}` : issue.message), lineOf?.(issue.path));
}
