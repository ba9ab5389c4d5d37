import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelError } from '../errors.ts';
import { withLock, writeFileAtomic } from '../util/fs.ts';
import { run } from '../util/process.ts';

export const KERNEL_SUITES = ['bullseye', 'bookworm', 'bookworm-backports', 'trixie'] as const;

/** One package stanza as apt knows it. */
export interface AptPackage {
  name: string;
  version: string;
  sha256: string;
  size: number;
  depends: string;
}

/**
 * An apt configuration of our own (sources, lists, caches under DIR), so the
 * harness can look up and download Debian packages from any suite without
 * touching the system's sources or state. Lists are refreshed when older
 * than maxAgeMs.
 */
export class PrivateApt {
  readonly dir: string;
  readonly mirror: string;
  constructor(cacheDir: string, mirror: string) {
    this.mirror = mirror.replace(/\/$/, '');
    this.dir = join(cacheDir, 'apt', Buffer.from(this.mirror).toString('base64url').slice(0, 40));
  }

  private options(): string[] {
    const d = this.dir;
    return [
      `-o`, `Dir::Etc::SourceList=${d}/sources.list`,
      `-o`, `Dir::Etc::SourceParts=/dev/null`,
      `-o`, `Dir::Etc::Preferences=/dev/null`,
      `-o`, `Dir::Etc::PreferencesParts=/dev/null`,
      `-o`, `Dir::State::Lists=${d}/lists`,
      `-o`, `Dir::State::status=${d}/status`,
      `-o`, `Dir::Cache=${d}/cache`,
      `-o`, `Dir::Cache::Archives=${d}/archives`,
      `-o`, `APT::Get::List-Cleanup=0`,
      `-o`, `Acquire::Languages=none`,
      `-o`, `APT::Architectures=amd64`,
      `-o`, `APT::Sandbox::User=root`,
      `-o`, `Debug::NoLocking=1`,
    ];
  }

  /** apt-get update into our own lists unless they are fresher than maxAgeMs. */
  async update(maxAgeMs: number, timeoutMs: number): Promise<void> {
    const d = this.dir;
    await withLock(join(d, 'update.lock'), timeoutMs, async () => {
      const stamp = join(d, 'updated');
      const st = await stat(stamp).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs < maxAgeMs) return;
      for (const sub of ['lists/partial', 'cache', 'archives/partial']) await mkdir(join(d, sub), { recursive: true });
      const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
      await writeFile(join(d, 'sources.list'), KERNEL_SUITES.map((s) => `deb [signed-by=${keyring}] ${this.mirror} ${s} main\n`).join(''));
      await writeFile(join(d, 'status'), '');
      const r = await run(['apt-get', ...this.options(), 'update'], { timeoutMs, env: aptEnv() });
      if (r.exitCode !== 0 || /^(E:|Err:)/m.test(r.stdout + r.stderr))
        throw new KernelError(
          r.exitCode === 127
            ? 'apt-get not found: kernels come from Debian packages (run on Debian/Ubuntu, or give the pool a kernel of your own: {vmlinuz, modules})'
            : `apt-get update against ${this.mirror} failed: ${lastLines(r.stdout + r.stderr)}`,
        );
      await writeFile(stamp, new Date().toISOString());
    });
  }

  /**
   * The stanza of NAME in SUITE, remembered for as long as the package lists
   * are unchanged: a warm run resolves its kernels without running apt.
   */
  async show(name: string, suite: string | undefined, timeoutMs: number): Promise<AptPackage> {
    const stamp = (await stat(join(this.dir, 'updated')).catch(() => undefined))?.mtimeMs ?? 0;
    const memoFile = join(this.dir, 'resolved.json');
    const key = `${name}/${suite ?? ''}`;
    const memo = await readMemo(memoFile);
    if (memo.stamp === stamp && memo.pkgs?.[key]) return memo.pkgs[key];
    const pkg = await this.showUncached(name, suite, timeoutMs);
    // Kernels resolve side by side: merge into the memo one at a time, from what is on disk then.
    // A memo that cannot be written costs the next run an apt-cache call, nothing more.
    memoUpdates = memoUpdates
      .then(async () => {
        const now = await readMemo(memoFile);
        const pkgs = now.stamp === stamp ? { ...now.pkgs, [key]: pkg } : { [key]: pkg };
        await writeFileAtomic(memoFile, JSON.stringify({ stamp, pkgs }, null, 2));
      })
      .catch(() => undefined);
    await memoUpdates;
    return pkg;
  }

  private async showUncached(name: string, suite: string | undefined, timeoutMs: number): Promise<AptPackage> {
    const r = await run(['apt-cache', ...this.options(), 'show', suite ? `${name}/${suite}` : name], { timeoutMs, env: aptEnv() });
    const stanza = r.stdout.split(/\n\n/)[0] ?? '';
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? '';
    if (r.exitCode !== 0 || !field('Package'))
      throw new KernelError(`no package ${name}${suite ? ` in Debian ${suite}` : ''} at ${this.mirror} (${lastLines(r.stderr) || 'apt-cache found nothing'})`);
    return { name: field('Package'), version: field('Version'), sha256: field('SHA256'), size: Number(field('Size')), depends: field('Depends') };
  }

  /** Downloads NAME=VERSION into DIR (apt checks the hash against the signed index) and returns the .deb's path. */
  async download(pkg: AptPackage, dir: string, timeoutMs: number): Promise<string> {
    await mkdir(dir, { recursive: true });
    const r = await run(['apt-get', ...this.options(), 'download', `${pkg.name}=${pkg.version}`], { timeoutMs, cwd: dir, env: aptEnv() });
    if (r.exitCode !== 0) throw new KernelError(`downloading ${pkg.name} ${pkg.version} failed: ${lastLines(r.stdout + r.stderr)}`);
    const file = join(dir, `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_amd64.deb`);
    await stat(file).catch(() => {
      throw new KernelError(`apt-get download of ${pkg.name} reported success but ${file} is missing`);
    });
    return file;
  }
}

type Memo = { stamp?: number; pkgs?: Record<string, AptPackage> };
let memoUpdates: Promise<void> = Promise.resolve();

/** The resolution memo; unreadable or damaged counts as empty (it is only a cache). */
async function readMemo(file: string): Promise<Memo> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Memo;
  } catch {
    return {};
  }
}

function aptEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
}

function lastLines(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ');
}
