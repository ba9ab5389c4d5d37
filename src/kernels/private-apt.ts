import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelError } from '../errors.ts';
import { removeTree, withLock, writeFileAtomic } from '../util/fs.ts';
import { run } from '../util/process.ts';
import { servedSuites } from './debian-suites.ts';
import { type AptPackage, parseStanzas } from './kernel-packages.ts';

/**
 * An apt configuration of our own for one suite of a mirror (sources, lists,
 * caches under DIR), so the harness can look up and download Debian packages
 * from any suite the mirror serves without touching the system's sources or
 * state. Lists are refreshed when older than maxAgeMs.
 */
export class PrivateApt {
  readonly dir: string;
  readonly mirror: string;
  readonly suite: string;
  constructor(cacheDir: string, mirror: string, suite: string) {
    this.mirror = mirror.replace(/\/$/, '');
    this.suite = suite;
    // Under dists/ so that no suite name meets another file of the mirror's directory.
    this.dir = join(cacheDir, 'apt', Buffer.from(this.mirror).toString('base64url').slice(0, 40), 'dists', suite);
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
    let missing = false;
    await withLock(join(d, 'update.lock'), timeoutMs, async () => {
      const stamp = join(d, 'updated');
      const st = await stat(stamp).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs < maxAgeMs) return;
      for (const sub of ['lists/partial', 'cache', 'archives/partial']) await mkdir(join(d, sub), { recursive: true });
      const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
      await writeFile(join(d, 'sources.list'), `deb [signed-by=${keyring}] ${this.mirror} ${this.suite} main\n`);
      await writeFile(join(d, 'status'), '');
      const r = await run(['apt-get', ...this.options(), 'update'], { timeoutMs, env: aptEnv() });
      if (/does not have a Release file/.test(r.stdout + r.stderr)) {
        missing = true;
        return;
      }
      if (r.exitCode !== 0 || /^(E:|Err:)/m.test(r.stdout + r.stderr))
        throw new KernelError(
          r.exitCode === 127
            ? 'apt-get not found: kernels come from Debian packages (run on Debian/Ubuntu, or give the pool a kernel of your own: {vmlinuz, modules})'
            : `apt-get update against ${this.mirror} failed: ${lastLines(r.stdout + r.stderr)}`,
        );
      await writeFile(stamp, new Date().toISOString());
    });
    if (missing) throw await this.noSuchSuite(timeoutMs);
  }

  /** The suite's lists are gone and the mirror has no such suite: say which ones it has (before anything is downloaded). */
  private async noSuchSuite(timeoutMs: number): Promise<KernelError> {
    const scratch = join(this.dir, 'suites');
    await removeTree(scratch);
    await mkdir(scratch, { recursive: true });
    const served = await servedSuites(this.mirror, scratch, Math.min(timeoutMs, 60_000)).catch(() => [] as string[]);
    await removeTree(scratch);
    await removeTree(this.dir);
    return new KernelError(
      `Debian suite "${this.suite}" is not at ${this.mirror} (no dists/${this.suite}/Release); ` +
        (served.length ? `it serves ${served.join(', ')}` : 'could not tell which suites it serves (no Release file for stable, testing or unstable either)'),
    );
  }

  /**
   * The stanza of NAME (at VERSION when given) in the suite, remembered for as
   * long as the package lists are unchanged: a warm run resolves its kernels
   * without running apt.
   */
  async show(name: string, version: string | undefined, timeoutMs: number): Promise<AptPackage> {
    const stamp = (await stat(join(this.dir, 'updated')).catch(() => undefined))?.mtimeMs ?? 0;
    const memoFile = join(this.dir, 'resolved.json');
    const key = `${name}=${version ?? ''}`;
    const memo = await readMemo(memoFile);
    if (memo.stamp === stamp && memo.pkgs?.[key]) return memo.pkgs[key];
    const pkg = await this.showUncached(name, version, timeoutMs);
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

  private async showUncached(name: string, version: string | undefined, timeoutMs: number): Promise<AptPackage> {
    const r = await run(['apt-cache', ...this.options(), 'show', version ? `${name}=${version}` : name], { timeoutMs, env: aptEnv() });
    // The lists hold this one suite; of several versions apt shows the newest first.
    const pkg = parseStanzas(r.stdout)[0];
    if (r.exitCode !== 0 || !pkg)
      throw new KernelError(`no package ${name}${version ? ` ${version}` : ''} in Debian ${this.suite} at ${this.mirror} (${lastLines(r.stderr) || 'apt-cache found nothing'})`);
    return pkg;
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
