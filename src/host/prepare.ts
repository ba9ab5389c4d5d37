import { PrerequisiteError } from '../errors.ts';
import { install, isComplete, shortfallMessage, shortfallOf } from './install.ts';
import { checkRequirements, type Need } from './requirements.ts';

export interface PrepareOptions {
  needs: ReadonlySet<Need>;
  cacheDir: string;
  /** Install what is missing (setup, npm start); false: refuse with the doctor message. */
  install: boolean;
  /** What the selection is, for messages: "the embedded default (9 pools)". */
  what: string;
  write: (line: string) => void;
  signal?: AbortSignal | undefined;
}

/** The user asked the harness never to install anything. */
export const noInstallRequested = () => /^(1|true|yes)$/i.test(process.env.CRIU_COMPAT_NO_INSTALL ?? '');

/**
 * Makes sure the host has what a selection needs, before any other work:
 * returns the packages it installed (none when everything was there), or
 * throws PrerequisiteError with one message naming everything missing.
 */
export async function prepareHost(opts: PrepareOptions): Promise<string[]> {
  const before = shortfallOf(await checkRequirements(opts.needs, opts.cacheDir));
  if (isComplete(before)) return [];
  const onlyRoot = before.blocking.length === 1 && before.blocking[0]!.name === 'root';
  if (opts.install && !noInstallRequested() && onlyRoot && before.installable.size) {
    const pkgs = [...before.installable.keys()].join(' ');
    throw new PrerequisiteError(`setup: installing ${pkgs} needs root: run it as root (sudo), or install them yourself (apt-get install --no-install-recommends ${pkgs})`);
  }
  if (!opts.install || noInstallRequested() || before.blocking.length) throw new PrerequisiteError(shortfallMessage(before, opts.what));
  await install(before, { write: opts.write, signal: opts.signal });
  const after = shortfallOf(await checkRequirements(opts.needs, opts.cacheDir));
  if (!isComplete(after)) throw new PrerequisiteError(`setup: apt-get succeeded but still ${shortfallMessage(after, opts.what)}`);
  return [...before.installable.keys()];
}
