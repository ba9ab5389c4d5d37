import type { AuditSink } from './audit.ts';

/** Defaults of kept artifacts: they are memory dumps, so they do not stay long. */
export const DEFAULT_TTL_MS = 24 * 3_600_000;
export const DEFAULT_QUOTA_BYTES = 2 * 2 ** 30;

/**
 * How a run keeps artifacts (serialisable: it crosses into the suite
 * workers with the plan). The key itself does not travel: workers read it
 * again from the same file or environment variable and check its id.
 */
export interface ArtifactPolicy {
  runId: string;
  /** RUN-ID/artifacts (0700). */
  dir: string;
  ttlMs: number;
  quotaBytes: number;
  encryption?: { keyId: string; keyFile?: string };
}

/** Where a run's audit lines go, and which run they belong to (also without kept artifacts). */
export interface RunAudit extends AuditSink {
  runId: string;
}
