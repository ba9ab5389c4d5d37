import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'src/cli/main.ts');

/** Starts the real CLI (as a user would), on the Node that runs these tests. */
export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ResultPromise<{ reject: false; all: true; cwd: string; env: Record<string, string> }> {
  return execa(process.execPath, [CLI, ...args], { reject: false, all: true, cwd: opts.cwd ?? ROOT, env: { NO_COLOR: '1', ...opts.env } });
}

function readText(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Host processes that belong to the harness's environments: VMs, cc-ns helpers and anything running from /run/criu-compat. */
/** The command lines (NULs as spaces) of this host's processes that MATCH says are wanted. */
export function commandLinesMatching(match: (cmd: string) => boolean): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((pid) => readText(`/proc/${pid}/cmdline`).replace(/\0/g, ' ').trim())
    .filter(match);
}

export function harnessProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const cmd = readText(`/proc/${pid}/cmdline`).replace(/\0/g, ' ').trim();
    let exe = '';
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      /* kernel thread or gone */
    }
    if (/qemu-system-x86_64 -name criu-compat-/.test(cmd) || /\/cc-ns-[0-9a-f]{16}\b/.test(cmd) || /\/run\/criu-compat\//.test(cmd) || /\/cc\/cc-agent --listen/.test(cmd) || /^(\S*\/)?conmon /.test(cmd) || /\/run\/criu-compat\//.test(exe)) out.push(`${pid} ${cmd}`);
  }
  return out;
}

/** Namespaces (pid, net, mnt) in use by any process: a leak shows as one more after a run. */
export function namespaceSet(): Set<string> {
  const s = new Set<string>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d)))
    for (const ns of ['pid', 'net', 'mnt'])
      try {
        s.add(readlinkSync(`/proc/${pid}/ns/${ns}`));
      } catch {
        /* gone */
      }
  return s;
}

export function workDirsOf(pid: number): string[] {
  return readdirSync(tmpdir()).filter((e) => e.startsWith(`criu-compat-run-${pid}-`) || e.startsWith(`criu-compat-vm-${pid}-`));
}

/** Mounts in the host's namespace that point into the image cache or a work dir. */
export function strayMounts(): string[] {
  return readText('/proc/self/mountinfo')
    .split('\n')
    .filter((l) => /criu-compat/.test(l));
}

export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

const created: string[] = [];

/** A scratch directory under the system's temp dir, removed after the test file (see setup.ts). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  created.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * The round-trip suite of CLASSES (catalogue names) on one debian-trixie pool
 * on this machine's kernel (CRIU told not to use hardware breakpoints, so it
 * works whether the hypervisor virtualises them or not), through the real CLI.
 * Returns the results and a lookup of its cells by check name.
 */
export async function runClassesOnHost(out: string, pool: string, classes: readonly string[]): Promise<{ results: RunResults; exitCode: number | undefined; cell: (check: string) => Cell }> {
  const cfg = join(out, 'pools.yaml');
  writeFileSync(cfg, ['pools:', `  - name: ${pool}`, '    kernel: host', '    image: debian-trixie', '    criu: {env: {CRIU_FAULT: "130"}}', 'settings:', '  suites: [round-trip]', `  workloads: [${classes.join(', ')}]`, ''].join('\n'));
  const r = await cli(['run', '--config', cfg, '--out', out, '--no-progress']);
  const runs = readdirSync(out).filter((d) => d !== 'pools.yaml');
  if (runs.length !== 1) throw new Error(`expected one run in ${out}, got ${runs.length}: ${r.all}`);
  const results = RunResults.parse(JSON.parse(readFileSync(join(out, runs[0]!, 'results.json'), 'utf8')));
  const cell = (check: string): Cell => {
    const c = results.cells.find((x) => x.suite === 'round-trip' && x.check === check);
    if (!c) throw new Error(`no cell round-trip/${check}`);
    return c;
  };
  return { results, exitCode: r.exitCode, cell };
}

/** Writes CONFIG as DIR/pilots.json, runs `criu-compat run` on it (exit 0 or 1: no harness error) and returns its results. */
export async function runJsonConfig(dir: string, config: object, o: { onPid?: (pid: number) => void; exitCodes?: number[] } = {}): Promise<RunResults> {
  const file = join(dir, 'pilots.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const out = join(dir, 'out');
  const p = cli(['run', '--config', file, '--out', out, '--no-progress']);
  if (p.pid) o.onPid?.(p.pid);
  const r = await p;
  if (!(o.exitCodes ?? [0, 1]).includes(r.exitCode ?? -1)) throw new Error(`criu-compat run exited ${r.exitCode}:\n${r.all}`);
  return RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
}

/** Processes of CRI nodes as the host sees them: containerd and its shims (their command lines name the harness's work directory), pause, the node registry, workloads. */
export function criProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    let exe = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue;
    }
    if (/\/containerd(-shim[\w-]*)?$/.test(exe) && /\/run\/criu-compat\//.test(cmd)) out.push(`${pid} ${cmd}`);
    else if (/^\/cc-pause$|^\/cc\/[\w-]+$/.test(cmd) || /\/cc-registry /.test(cmd)) out.push(`${pid} ${cmd}`);
  }
  return out;
}
