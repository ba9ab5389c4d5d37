import { appendFile, chmod, mkdir, stat } from 'node:fs/promises';
import { UsageError } from '../errors.ts';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { redactDeep, redactUrlsIn } from '../util/redact.ts';

/**
 * The audit log: JSON lines, root-only (files 0600, directories made 0700),
 * one line per event — who ran what, which workload or pilot was
 * checkpointed on which pool, where each artifact went and when it was
 * deleted (by the cell, by prune, by its TTL). Only metadata: never memory
 * contents, never a key. Every run writes RUN-ID/audit/audit.jsonl and
 * appends the same lines to a persistent log (defaultAuditLog, or --audit-log).
 */

export const RUN_AUDIT = join('audit', 'audit.jsonl');

export interface Who {
  uid: number;
  user: string;
  /** The user sudo ran the command for, when it did. */
  sudoUser?: string;
  host: string;
}

export type AuditEvent =
  | { event: 'run.start'; runId: string; command: string[]; cwd: string; runDir: string; pools: string[]; artifacts: Record<string, unknown> | null }
  | { event: 'run.end'; runId: string; exitCode: number; cells: number; interrupted: boolean; artifacts?: Record<string, unknown>; error?: string }
  | { event: 'checkpoint'; runId: string; pool: string; suite: string; check: string; status: string; workload?: string; pilot?: string; source?: string; destination?: string; artifacts: string }
  | { event: 'artifact.kept'; runId: string; pool: string; suite: string; check: string; path: string; bytes: number; files: number; encrypted: boolean }
  | { event: 'artifact.not-kept'; runId: string; pool: string; suite: string; check: string; reason: string }
  | { event: 'artifact.deleted'; runId: string; by: 'cell' | 'prune' | 'ttl'; path: string; pool?: string; suite?: string; check?: string; node?: string; bytes?: number }
  | { event: 'artifact.decrypted'; runId: string; cell: string; to: string; files: number }
  | { event: 'prune'; command: string[]; reportsDir: string; all: boolean; removed: number; bytes: number };

/** Where the audit lines go: every file named here gets every line. */
export interface AuditSink {
  files: string[];
}

/** $XDG_STATE_HOME/criu-compat/audit.jsonl, else ~/.local/state/criu-compat/audit.jsonl. */
export function defaultAuditLog(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'criu-compat', 'audit.jsonl');
}

export function who(env: NodeJS.ProcessEnv = process.env): Who {
  let user = '';
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? '';
  }
  return { uid: process.getuid?.() ?? -1, user, ...(env.SUDO_USER ? { sudoUser: env.SUDO_USER } : {}), host: hostname() };
}

/** A command line as the log shows it: credentials in URLs masked. */
export function redactedCommand(argv: readonly string[]): string[] {
  return argv.map((a) => redactUrlsIn(a));
}

/** Appends one line to every file of the sink. A log that cannot be written is a warning on stderr, not a lost run. */
export async function audit(sink: AuditSink | undefined, e: AuditEvent, at: Date = new Date()): Promise<void> {
  if (!sink?.files.length) return;
  const line = `${JSON.stringify(redactDeep({ time: at.toISOString(), ...e, who: who() }))}\n`;
  for (const file of sink.files) {
    try {
      await ensurePrivateDir(dirname(file));
      await appendFile(file, line, { mode: 0o600, flag: 'a' });
      const st = await stat(file);
      if (st.mode & 0o077) await chmod(file, 0o600);
    } catch (err) {
      process.stderr.write(`criu-compat: warning: cannot write the audit log ${file}: ${(err as Error).message}\n`);
    }
  }
}

/** The audit log cannot be written: the command stops before any work (exit 2). */
export class AuditLogError extends UsageError {
  override name = 'AuditLogError';
}

/**
 * Checks before any work that FILE can take audit lines (made 0600 in a 0700
 * directory if missing): a run or prune whose log cannot be written does not
 * start, rather than checkpointing with nobody's record of it.
 */
export async function checkAuditLog(file: string): Promise<void> {
  try {
    await ensurePrivateDir(dirname(file));
    await appendFile(file, '', { mode: 0o600, flag: 'a' });
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
  } catch (err) {
    throw new AuditLogError(`the audit log ${file} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give a writable one with --audit-log FILE`);
  }
}

/** Makes the directory (0700) if it is missing; one we made is root-only, one that existed is left as it is. */
async function ensurePrivateDir(dir: string): Promise<void> {
  const made = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (made) await chmod(dir, 0o700);
}
