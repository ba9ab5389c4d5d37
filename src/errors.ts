/** Named errors. Each says what went wrong and what to do about it. */

/** Bad user input (config file, flags, baseline). The CLI exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly file: string;
  readonly path: string;
  readonly expected: string;
  /** The line in the file where the path is, when known. */
  readonly line: number | undefined;
  constructor(file: string, path: string, expected: string, line?: number) {
    super(`${file}: at ${path || '(top level)'}${line ? ` (line ${line})` : ''}: ${expected}`);
    this.file = file;
    this.path = path;
    this.expected = expected;
    this.line = line;
  }
}

/** Wrong command-line usage. The CLI exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A node image could not be built or opened. Cells of its pools become ERROR. */
export class ImageError extends Error {
  override name = 'ImageError';
}

/** An environment could not be brought up or broke underneath a check. */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}

/** A native part (helper, workload) could not be compiled. */
export class BuildError extends Error {
  override name = 'BuildError';
}

/** The machine lacks something the harness needs (root, a tool). The CLI exits 2. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

/** A kernel could not be found, downloaded or unpacked. Cells of its pools become ERROR. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** Work stopped because the run was interrupted (SIGINT/SIGTERM): what it left unfinished is "not run", not an error. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}
