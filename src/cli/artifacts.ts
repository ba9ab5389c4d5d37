import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { checkAuditLog, defaultAuditLog, redactedCommand, audit } from '../artifacts/audit.ts';
import { artifactsNow, parseInstant } from '../artifacts/clock.ts';
import { decryptCell } from '../artifacts/decrypt.ts';
import { KEY_ENV, loadArtifactKey } from '../artifacts/key.ts';
import { isDirectory, pruneArtifacts } from '../artifacts/prune.ts';
import { formatBytes } from '../artifacts/units.ts';

export const PRUNE_HELP = `Usage: criu-compat prune [--out DIR] [--all] [--audit-log FILE]

Removes kept artifacts (RUN-ID/artifacts, made by run --keep-artifacts) whose
TTL has run out (each run's manifest says when), or all of them with --all,
and says what it removed. The runs' results and reports stay. Every removal is
a line in the audit log. A run also removes expired artifacts in its --out
directory before it starts.

Options:
  -o, --out DIR       the reports directory (default: reports)
      --all           remove every run's artifacts, expired or not
      --now TIME      judge expiry at this time (ISO or epoch ms; also $CRIU_COMPAT_NOW)
      --audit-log FILE  the persistent audit log (default: ${defaultAuditLog().replace(process.env.HOME ?? '\0', '~')})
  -h, --help          this help`;

export const ARTIFACTS_HELP = `Usage: criu-compat artifacts decrypt RUN-DIR CELL --to DIR [--artifacts-key-file FILE]

Decrypts one cell's kept artifacts (a run with --keep-artifacts and a key)
into DIR (made 0700; files 0600), for a re-restore or an inspection. CELL is
POOL/SUITE/CHECK, or a CHECK that names one cell. The key (the file, else
$${KEY_ENV}) must be the run's: its id is checked first, and every file must
authenticate or nothing of it is written. The decryption is a line in the
audit log.

Options:
      --to DIR                  where the plaintext goes (new or empty)
      --artifacts-key-file FILE the key (64 hex digits or base64 of 32 bytes, mode 0600)
      --audit-log FILE          the persistent audit log
  -h, --help                    this help`;

export async function pruneCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      out: { type: 'string', short: 'o', default: 'reports' },
      all: { type: 'boolean', default: false },
      now: { type: 'string' },
      'audit-log': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(PRUNE_HELP);
    return 0;
  }
  const now = values.now ? parseInstant(values.now, '--now') : artifactsNow();
  if (!(await isDirectory(values.out))) throw new UsageError(`--out ${values.out}: no such reports directory`);
  const sink = { files: [values['audit-log'] ?? defaultAuditLog()] };
  await checkAuditLog(sink.files[0]!);
  const { removed, kept } = await pruneArtifacts({ reportsDir: values.out, all: values.all, now, sink });
  for (const r of removed)
    console.log(`removed ${r.path} (${r.cells} cell(s), ${formatBytes(r.bytes)}): ${r.by === 'ttl' ? `expired${r.expiresAt ? ` at ${r.expiresAt}` : ' (no manifest; older than the default TTL)'}` : `--all (it would have expired at ${r.expiresAt ?? '?'})`}`);
  for (const k of kept) console.log(`kept ${k.runId}: expires at ${k.expiresAt}`);
  if (!removed.length) console.log(`nothing to remove in ${values.out}${kept.length ? '' : ' (no kept artifacts)'}`);
  await audit(sink, { event: 'prune', command: redactedCommand(['prune', ...args]), reportsDir: values.out, all: values.all, removed: removed.length, bytes: removed.reduce((n, r) => n + r.bytes, 0) });
  return 0;
}

export async function artifactsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      to: { type: 'string' },
      'artifacts-key-file': { type: 'string' },
      'audit-log': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || !positionals.length) {
    console.log(ARTIFACTS_HELP);
    return values.help ? 0 : 2;
  }
  const [sub, runDir, cell] = positionals;
  if (sub !== 'decrypt') throw new UsageError(`artifacts: unknown subcommand "${sub}"; it has: decrypt`);
  if (!runDir || !cell || positionals.length > 3) throw new UsageError('artifacts decrypt takes RUN-DIR and CELL (see --help)');
  if (!values.to) throw new UsageError('artifacts decrypt needs --to DIR (where the plaintext goes)');
  // The key first: a bad or missing one stops here (exit 2), before anything is read or written.
  const key = await loadArtifactKey({ file: values['artifacts-key-file'] });
  if (!key) throw new UsageError(`artifacts decrypt needs the run's key: --artifacts-key-file FILE or $${KEY_ENV}`);
  await checkAuditLog(values['audit-log'] ?? defaultAuditLog());
  const r = await decryptCell(runDir, cell, values.to, key, { files: [values['audit-log'] ?? defaultAuditLog()] });
  console.log(`decrypted ${r.cell}: ${r.files} file(s), ${formatBytes(r.bytes)} into ${values.to} (plaintext: remove it when done)`);
  return 0;
}
