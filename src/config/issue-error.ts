import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

/** a.b[2].c — how messages name a place inside a file. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/**
 * The one way a schema violation in a user's file (config, policy, results,
 * baseline) becomes an error: file, path inside it, what was expected.
 */
export function issueToError(file: string, issue: z.core.$ZodIssue, what?: string): ConfigError {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    return new ConfigError(file, formatPath([...issue.path, issue.keys[0]!]), `no such key (unknown: ${keys}); check the spelling against the README's reference`);
  }
  return new ConfigError(file, formatPath(issue.path), what ? `${what}: ${issue.message}` : issue.message);
}
