/**
 * CRIU's command lines, built from typed options in one place: every
 * argument the harness hands to criu comes from here (the flags are the
 * ones `criu --help` of 4.1.1 and 3.17.1 lists). Paths are inside the
 * environment criu runs in.
 */
import type { ClassCriuOption } from '../config/catalogue/index.ts';

/** Where a command's images and log go. */
export interface ImageOptions {
  /** -D: the image directory. */
  imagesDir: string;
  /** -o: the log file's name; CRIU puts it in the work directory (the image directory unless set otherwise). */
  logFile?: string;
  /** -vN: 0 (none) to 4 (debug). */
  verbosity?: 0 | 1 | 2 | 3 | 4;
}

/** A page server to send pages to (dump) or fetch them from (lazy pages). */
export interface PageServerAddress {
  address: string;
  port: number;
}

/** What dump and pre-dump share. */
export interface TreeOptions extends ImageOptions {
  /** -t: the root of the process tree. */
  pid: number;
  /** --prev-images-dir: a previous (pre-)dump's images, relative to imagesDir. */
  parent?: string;
  /** --track-mem: have the kernel track dirty pages for a later dump. */
  trackMem?: boolean;
  /** --page-server with --address/--port: pages go to a page server instead of imagesDir. */
  pageServer?: PageServerAddress;
}

export interface DumpOptions extends TreeOptions {
  /** --leave-running: the tree keeps running after the dump. */
  leaveRunning?: boolean;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  shellJob?: boolean;
  /** --link-remap: an open file that was unlinked but still has a name elsewhere is kept by a temporary link. */
  linkRemap?: boolean;
  /** --lazy-pages: leave the memory for a lazy restore to fetch. */
  lazyPages?: boolean;
  /**
   * With lazyPages, a remote lazy restore: --address/--port the dump listens
   * on and serves the memory from (the tree stays frozen) until a
   * `criu lazy-pages --page-server` on the destination has pulled it all.
   */
  lazyListen?: PageServerAddress;
}

export type PreDumpOptions = TreeOptions;

export interface RestoreOptions extends ImageOptions {
  /** -d: criu returns once the tree runs; the tree is not its child. */
  detach?: boolean;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  shellJob?: boolean;
  /** --lazy-pages: fetch memory on demand from a `criu lazy-pages` daemon. */
  lazyPages?: boolean;
}

export interface PageServerOptions extends ImageOptions {
  port: number;
  /** --address: listen on this address only. */
  address?: string;
  /** --lazy-pages: serve pages on demand to a lazy restore. */
  lazyPages?: boolean;
  /** -d: return once the socket listens. */
  daemon?: boolean;
}

export interface LazyPagesOptions extends Partial<ImageOptions> {
  /** The page server holding the pages (--page-server --address A --port P); without it the pages come from the image directory's own pages-*.img. */
  from?: PageServerAddress;
}

function logging(o: Partial<ImageOptions>): string[] {
  return [...(o.logFile ? ['-o', o.logFile] : []), ...(o.verbosity !== undefined ? [`-v${o.verbosity}`] : [])];
}

function images(o: ImageOptions): string[] {
  return ['-D', o.imagesDir, ...logging(o)];
}

/** The flags whose boolean option is set, in the order the table lists them. */
function flags<O extends object>(o: O, names: { [K in keyof O]?: string }): string[] {
  return (Object.entries(names) as [keyof O, string][]).flatMap(([k, flag]) => (o[k] ? [flag] : []));
}

function tree(verb: 'dump' | 'pre-dump', o: TreeOptions): string[] {
  return [
    verb,
    '-t',
    String(o.pid),
    ...images(o),
    ...(o.parent ? ['--prev-images-dir', o.parent] : []),
    ...flags(o, { trackMem: '--track-mem' }),
    ...(o.pageServer ? ['--page-server', '--address', o.pageServer.address, '--port', String(o.pageServer.port)] : []),
  ];
}

const DUMP_FLAGS: { [K in keyof DumpOptions]?: string } = {
  leaveRunning: '--leave-running',
  tcpEstablished: '--tcp-established',
  fileLocks: '--file-locks',
  shellJob: '--shell-job',
  linkRemap: '--link-remap',
  lazyPages: '--lazy-pages',
};
const RESTORE_FLAGS: { [K in keyof RestoreOptions]?: string } = { tcpEstablished: '--tcp-established', fileLocks: '--file-locks', shellJob: '--shell-job', lazyPages: '--lazy-pages' };

/** Which of a workload class's CRIU options each command takes (--link-remap is a dump option only). */
const CLASS_OPTION_STEPS: Record<ClassCriuOption, { dump: boolean; restore: boolean }> = {
  tcpEstablished: { dump: true, restore: true },
  fileLocks: { dump: true, restore: true },
  linkRemap: { dump: true, restore: false },
  shellJob: { dump: true, restore: true },
};

/** A workload class's CRIU options as the flags CRIU spells ("--tcp-established"). */
export function classCriuFlags(options: readonly ClassCriuOption[]): string[] {
  return options.map((o) => DUMP_FLAGS[o]!);
}

/** A workload class's CRIU options as the typed options of its dump and of its restore. */
export function classCriuOptions(options: readonly ClassCriuOption[]): { dump: Partial<DumpOptions>; restore: Partial<RestoreOptions> } {
  const pick = (step: 'dump' | 'restore') => Object.fromEntries(options.filter((o) => CLASS_OPTION_STEPS[o][step]).map((o) => [o, true]));
  return { dump: pick('dump'), restore: pick('restore') };
}

/** `criu dump -t PID -D DIR …` (without the leading "criu"). */
export function dumpArgs(o: DumpOptions): string[] {
  if (o.lazyListen && !o.lazyPages) throw new TypeError('dumpArgs: lazyListen serves a lazy restore: it needs lazyPages');
  if (o.lazyListen && o.pageServer) throw new TypeError('dumpArgs: lazyListen and pageServer both set --address/--port');
  return [...tree('dump', o), ...flags(o, DUMP_FLAGS), ...(o.lazyListen ? ['--address', o.lazyListen.address, '--port', String(o.lazyListen.port)] : [])];
}

/** `criu pre-dump -t PID -D DIR …`: the tree keeps running, its memory is copied and tracked. */
export function preDumpArgs(o: PreDumpOptions): string[] {
  return tree('pre-dump', o);
}

/** `criu restore [-d] -D DIR …`. */
export function restoreArgs(o: RestoreOptions): string[] {
  return ['restore', ...(o.detach ? ['-d'] : []), ...images(o), ...flags(o, RESTORE_FLAGS)];
}

/** `criu check [--all]`: the features dump and restore need (with --all, the extra and experimental ones too). */
export function checkArgs(o: { all?: boolean } = {}): string[] {
  return ['check', ...(o.all ? ['--all'] : [])];
}

/** `criu check --feature NAME`. */
export function checkFeatureArgs(feature: string): string[] {
  return ['check', '--feature', feature];
}

/** `criu page-server --images-dir D --port P [--lazy-pages]`: receives a dump's pages over the network (or serves them to a lazy restore). */
export function pageServerArgs(o: PageServerOptions): string[] {
  return [
    'page-server',
    '--images-dir',
    o.imagesDir,
    '--port',
    String(o.port),
    ...(o.address ? ['--address', o.address] : []),
    ...flags(o, { lazyPages: '--lazy-pages', daemon: '-d' }),
    ...logging(o),
  ];
}

/** `criu lazy-pages --page-server --address A --port P`: the daemon a `restore --lazy-pages` fetches memory through. */
export function lazyPagesArgs(o: LazyPagesOptions): string[] {
  return ['lazy-pages', ...(o.from ? ['--page-server', '--address', o.from.address, '--port', String(o.from.port)] : []), ...(o.imagesDir ? ['--images-dir', o.imagesDir] : []), ...logging(o)];
}
