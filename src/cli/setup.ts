import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { parseShard, selectPools, selectionLabel } from '../config/select.ts';
import { defaultCacheDir } from '../images/cache-dir.ts';
import { isComplete, shortfallMessage, shortfallOf } from '../host/install.ts';
import { prepareHost } from '../host/prepare.ts';
import { checkRequirements, freeBytes, needsOf, type Need } from '../host/requirements.ts';
import { PrerequisiteError } from '../errors.ts';

const SELECTION_OPTIONS = `  -c, --config FILE     node-pools file (default: embedded default)
  -p, --pool NAME       only this pool's needs (repeatable)
      --shard I/N       only the pools of this shard (as run --shard)
      --tests           also what the harness's own tests need (chromium, podman, runc)
      --cache-dir DIR   where images and kernels are cached (its free space is checked)`;

export const DOCTOR_HELP = `Usage: criu-compat doctor [--config FILE] [--pool NAME]... [--tests]

Checks this machine for what the selected pools need: root, CAP_SYS_ADMIN,
free space in the cache, a C compiler with a static libc, debootstrap and
the Debian archive keyring (debootstrap images), QEMU, cpio and xz (VM pools),
dpkg-deb, depmod and apt-get (Debian kernels). Installs nothing.

Options:
${SELECTION_OPTIONS}
  -h, --help            this help

Exit: 0 everything present; 2 something missing (one list, and the line that installs it).`;

export const SETUP_HELP = `Usage: criu-compat setup [--config FILE] [--pool NAME]... [--tests] [--no-install]

Installs what the selected pools (and with --tests the harness's own tests)
need and this machine lacks, through apt-get, printing one line that says
what and why. Present tools are left alone: a second run installs nothing.
'npm start' runs it (as run --setup), 'npm test' runs it with --tests.

Options:
${SELECTION_OPTIONS}
      --no-install      install nothing: list what is missing and exit 2
                        (also: CRIU_COMPAT_NO_INSTALL=1)
  -h, --help            this help

Exit: 0 ready; 2 missing and not installed (not root, no apt, a package the
archive lacks, apt failing, --no-install), with one message saying which.`;

interface Selection {
  needs: Set<Need>;
  what: string;
  cacheDir: string;
}

async function select(values: { config?: string | undefined; pool?: string[] | undefined; shard?: string | undefined; tests?: boolean | undefined; 'cache-dir'?: string | undefined }): Promise<Selection> {
  const shard = parseShard(values.shard);
  const loaded = await loadConfig(values.config);
  const pools = selectPools(loaded, values.pool, shard);
  const needs = needsOf(loaded, pools);
  if (values.tests) needs.add('tests').add('network'); // the node network's e2e test
  return { needs, what: `${selectionLabel(loaded, pools)}${values.tests ? ' and the tests' : ''}`, cacheDir: values['cache-dir'] ?? defaultCacheDir() };
}

const selectionArgs = {
  config: { type: 'string', short: 'c' },
  pool: { type: 'string', short: 'p', multiple: true },
  shard: { type: 'string' },
  tests: { type: 'boolean', default: false },
  'cache-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: selectionArgs });
  if (values.help) {
    console.log(DOCTOR_HELP);
    return 0;
  }
  const sel = await select(values);
  const results = await checkRequirements(sel.needs, sel.cacheDir);
  console.log(`criu-compat doctor: ${sel.what}`);
  const width = Math.max(...results.map((r) => r.requirement.name.length));
  for (const { requirement: r, present } of results)
    console.log(`  ${present ? 'ok     ' : 'MISSING'}  ${r.name.padEnd(width)}  ${r.why}${present || !r.packages.length ? '' : ` (package ${r.packages.join(', ')})`}`);
  for (const line of await notes(sel.cacheDir)) console.log(`  note     ${line}`);
  const s = shortfallOf(results);
  if (isComplete(s)) {
    console.log('everything the selection needs is present');
    return 0;
  }
  throw new PrerequisiteError(shortfallMessage(s, sel.what));
}

/** Facts that decide nothing but explain a run: KVM or TCG, capabilities CRIU would like. */
async function notes(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  const kvm = await access('/dev/kvm').then(() => true, () => false);
  out.push(kvm ? 'KVM: /dev/kvm is there; a short probe boot decides at the first VM run whether guests really run on it (TCG otherwise)' : 'KVM: no /dev/kvm; VM pools run under TCG emulation (slower, same verdicts)');
  out.push(`cache: ${cacheDir}, ${(await freeBytes(cacheDir) / 2 ** 30).toFixed(1)} GiB free`);
  return out;
}

export async function setupCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...selectionArgs, 'no-install': { type: 'boolean', default: false } } });
  if (values.help) {
    console.log(SETUP_HELP);
    return 0;
  }
  const sel = await select(values);
  // Ctrl-C stops apt-get's whole process group (it runs in one of its own, away from the terminal's).
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const installed = await prepareHost({ ...sel, install: !values['no-install'], write: (l) => console.log(l), signal: abort.signal }).finally(() => process.off('SIGINT', stop).off('SIGTERM', stop));
  console.log(installed.length ? `setup: installed ${installed.join(', ')}; ready for ${sel.what}` : `setup: nothing to install; ready for ${sel.what}`);
  return 0;
}
