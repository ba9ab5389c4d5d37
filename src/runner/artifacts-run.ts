import { join } from 'node:path';
import { RUN_AUDIT, audit, defaultAuditLog, redactedCommand, type AuditSink } from '../artifacts/audit.ts';
import { artifactsNow } from '../artifacts/clock.ts';
import type { ArtifactKey } from '../artifacts/key.ts';
import { readManifest, writeManifest } from '../artifacts/manifest.ts';
import { DEFAULT_QUOTA_BYTES, DEFAULT_TTL_MS, type ArtifactPolicy, type RunAudit } from '../artifacts/policy.ts';
import { pruneArtifacts } from '../artifacts/prune.ts';
import { formatBytes, formatDuration } from '../artifacts/units.ts';
import type { Cell, RunResults } from '../results/schema.ts';
import { mkdirPrivate } from '../util/fs.ts';

/** The run's side of kept artifacts: the manifest before the suites, the sweep of expired ones, the audit lines per cell, the summary after. */

export interface HygieneOptions {
  /** With --keep-artifacts: TTL, quota and key (the defaults otherwise: 24h, 2 GiB, no encryption). */
  artifacts?: { ttlMs?: number; quotaBytes?: number; key?: ArtifactKey; keyFile?: string };
  /** The persistent audit log (default: defaultAuditLog()); the run's own is RUN-ID/audit/audit.jsonl. */
  auditLog?: string;
  /** The command line, for the audit log (credentials are masked there). */
  command?: string[];
}

/** Before the suites: the audit sinks, the sweep of expired artifacts in the reports directory, the artifacts directory and manifest, the run.start line. */
export async function startHygiene(o: HygieneOptions & { runDir: string; runId: string; outDir: string; keep: boolean; pools: string[] }): Promise<{ auditSink: RunAudit; artifacts: ArtifactPolicy | undefined }> {
  const auditSink: RunAudit = { runId: o.runId, files: [join(o.runDir, RUN_AUDIT), o.auditLog ?? defaultAuditLog()] };
  await sweepExpiredArtifacts(o.outDir, auditSink);
  const artifacts = o.keep ? await startArtifacts(o.runDir, o.runId, o.artifacts ?? {}) : undefined;
  await auditRunStart(auditSink, { command: o.command ?? process.argv.slice(1), runDir: o.runDir, pools: o.pools, artifacts });
  return { auditSink, artifacts };
}

/** After results.json: one audit line per checkpointing cell, what was kept (and the quota's stop message) on stderr, the run.end line. */
export async function finishHygiene(sink: RunAudit, results: RunResults, artifacts: ArtifactPolicy | undefined): Promise<void> {
  ended.add(sink.runId);
  await auditCells(sink, results.cells);
  const kept = artifacts ? await finishArtifacts(artifacts) : undefined;
  await audit(sink, { event: 'run.end', runId: sink.runId, exitCode: results.exitCode, cells: results.cells.length, interrupted: results.interrupted, ...(kept ? { artifacts: kept } : {}) });
}

const ended = new Set<string>();

/** In the run's finally: a run that threw before its results still gets its run.end line (with the error), so the log never shows a run that just stopped. */
export async function abandonHygiene(sink: RunAudit, error: unknown): Promise<void> {
  if (ended.has(sink.runId)) return;
  ended.add(sink.runId);
  await audit(sink, { event: 'run.end', runId: sink.runId, exitCode: 2, cells: 0, interrupted: false, error: error instanceof Error ? `${error.name}: ${error.message}` : 'stopped before its results were written' });
}

/** RUN-ID/artifacts (0700) and its manifest: created, expires, quota, the key's id. */
export async function startArtifacts(runDir: string, runId: string, o: { ttlMs?: number; quotaBytes?: number; key?: ArtifactKey; keyFile?: string }): Promise<ArtifactPolicy> {
  const dir = join(runDir, 'artifacts');
  await mkdirPrivate(dir);
  const ttlMs = o.ttlMs ?? DEFAULT_TTL_MS;
  const quotaBytes = o.quotaBytes ?? DEFAULT_QUOTA_BYTES;
  const now = artifactsNow();
  await writeManifest(dir, {
    schema: 'criu-compat/artifacts',
    runId,
    createdAt: now.toISOString(),
    ttlMs,
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    quotaBytes,
    usedBytes: 0,
    encryption: o.key ? { algorithm: 'aes-256-gcm', keyId: o.key.id } : null,
    quotaReached: null,
    cells: [],
    notKept: [],
  });
  return { runId, dir, ttlMs, quotaBytes, ...(o.key ? { encryption: { keyId: o.key.id, ...(o.keyFile ? { keyFile: o.keyFile } : {}) } } : {}) };
}

/** What was kept, said on stderr (the quota's stop message first), and returned for the audit log. */
export async function finishArtifacts(p: ArtifactPolicy, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Record<string, unknown>> {
  const m = await readManifest(p.dir);
  if (m.quotaReached)
    write(`artifacts: quota of ${formatBytes(m.quotaBytes)} per run reached at ${m.quotaReached.cell} (it needed ${formatBytes(m.quotaReached.neededBytes)}); artifacts of ${m.notKept.length} cell(s) not kept from there on (their artifacts field says "not kept: quota"); raise --artifacts-quota to keep more`);
  write(`artifacts: ${m.cells.length} cell(s), ${formatBytes(m.usedBytes)}${m.encryption ? ', encrypted (aes-256-gcm)' : ''}, in ${p.dir} until ${m.expiresAt} (TTL ${formatDuration(m.ttlMs)}; 'criu-compat prune' removes them then)`);
  return { dir: p.dir, cells: m.cells.length, bytes: m.usedBytes, notKept: m.notKept.length, quotaReached: m.quotaReached !== null, expiresAt: m.expiresAt };
}

/** Expired artifacts of earlier runs in the same reports directory go before a new run starts (their TTL is a promise). */
export async function sweepExpiredArtifacts(reportsDir: string, sink: AuditSink): Promise<void> {
  const { removed } = await pruneArtifacts({ reportsDir, all: false, now: artifactsNow(), sink });
  if (removed.length) process.stderr.write(`artifacts: removed the expired artifacts of ${removed.length} earlier run(s) (${formatBytes(removed.reduce((n, r) => n + r.bytes, 0))}): ${removed.map((r) => r.runId).join(', ')}\n`);
}

/** One audit line per cell that checkpointed something: which workload or pilot, on which pool, and where its images went. */
export async function auditCells(sink: AuditSink & { runId: string }, cells: readonly Cell[]): Promise<void> {
  for (const c of cells) {
    if (!c.workload && !c.pilot) continue;
    await audit(sink, {
      event: 'checkpoint',
      runId: sink.runId,
      pool: c.pool,
      suite: c.suite,
      check: c.check,
      status: c.status,
      ...(c.workload ? { workload: c.workload } : {}),
      ...(c.pilot ? { pilot: c.pilot } : {}),
      ...(c.source ? { source: c.source, destination: c.destination ?? '' } : {}),
      artifacts: c.artifacts ?? 'deleted after the cell',
    });
  }
}

/** The first line of a run: who, the command line (credentials masked), where, which pools, how artifacts are kept. */
export async function auditRunStart(sink: AuditSink & { runId: string }, o: { command: string[]; runDir: string; pools: string[]; artifacts: ArtifactPolicy | undefined }): Promise<void> {
  const a = o.artifacts;
  await audit(sink, {
    event: 'run.start',
    runId: sink.runId,
    command: redactedCommand(o.command),
    cwd: process.cwd(),
    runDir: o.runDir,
    pools: o.pools,
    artifacts: a ? { dir: a.dir, ttl: formatDuration(a.ttlMs), quotaBytes: a.quotaBytes, encrypted: a.encryption ? { algorithm: 'aes-256-gcm', keyId: a.encryption.keyId } : false } : null,
  });
}
