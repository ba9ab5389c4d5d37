import { randomBytes } from 'node:crypto';

/** A run id that sorts by time and names a directory: 2026-11-25T07-56-25Z-79aa. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}
