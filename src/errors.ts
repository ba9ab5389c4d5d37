/**
 * Named errors. Each says what went wrong and what to do about it, and
 * carries a stable code (what the CLI's exit status and any script go by;
 * messages may be reworded, codes are not) and, when it wraps another
 * error, that error as its cause.
 */

export type ErrorCode = 'CONFIG' | 'USAGE' | 'IMAGE' | 'ENVIRONMENT' | 'BUILD' | 'PREREQUISITE' | 'KERNEL' | 'INTERRUPTED';

const CODES: ReadonlySet<string> = new Set<ErrorCode>(['CONFIG', 'USAGE', 'IMAGE', 'ENVIRONMENT', 'BUILD', 'PREREQUISITE', 'KERNEL', 'INTERRUPTED']);

/** The code of one of these errors (subclasses included); undefined for any other value. */
export function errorCode(e: unknown): ErrorCode | undefined {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && CODES.has(code) ? (code as ErrorCode) : undefined;
}

/** Bad user input (config file, flags, baseline). The CLI exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code: ErrorCode = 'CONFIG';
  readonly file: string;
  readonly path: string;
  readonly expected: string;
  /** The line in the file where the path is, when known. */
  readonly line: number | undefined;
  constructor(file: string, path: string, expected: string, line?: number, options?: ErrorOptions) {
    super(`${file}: at ${path || '(top level)'}${line ? ` (line ${line})` : ''}: ${expected}`, options);
    this.file = file;
    this.path = path;
    this.expected = expected;
    this.line = line;
  }
}

/** Wrong command-line usage. The CLI exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly code: ErrorCode = 'USAGE';
}

/** A node image could not be built or opened. Cells of its pools become ERROR. */
export class ImageError extends Error {
  override name = 'ImageError';
  readonly code: ErrorCode = 'IMAGE';
}

/** An environment could not be brought up or broke underneath a check. */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
  readonly code: ErrorCode = 'ENVIRONMENT';
}

/** A native part (helper, workload) could not be compiled. */
export class BuildError extends Error {
  override name = 'BuildError';
  readonly code: ErrorCode = 'BUILD';
}

/** The machine lacks something the harness needs (root, a tool). The CLI exits 2. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
  readonly code: ErrorCode = 'PREREQUISITE';
}

/** A kernel could not be found, downloaded or unpacked. Cells of its pools become ERROR. */
export class KernelError extends Error {
  override name = 'KernelError';
  readonly code: ErrorCode = 'KERNEL';
}

/** Work stopped because the run was interrupted (SIGINT/SIGTERM): what it left unfinished is "not run", not an error. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  readonly code: ErrorCode = 'INTERRUPTED';
}
