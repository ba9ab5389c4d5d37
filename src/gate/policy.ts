import { readFile } from 'node:fs/promises';
import semver from 'semver';
import { decodeSource, parseSource } from '../config/source.ts';
import { z } from 'zod';
import { issueToError } from '../config/issue-error.ts';
import { ConfigError } from '../errors.ts';

const Glob = z.string().min(1);
const Range = z.string().refine((r) => semver.validRange(r) !== null, 'a semver range such as ">=4.1" or "<6.13"');

export const Policy = z.strictObject({
  /** Metric thresholds: the current value (p50 when repeated) may grow at most maxIncrease (0.5 = +50%) over the baseline's. */
  metrics: z
    .array(
      z.strictObject({
        /** durations.dumpMs, durations.restoreMs, criuDump.frozenTimeUs, criuRestore.restoreTimeUs, imageBytes, … */
        metric: z.string().regex(/^(durations|criuDump|criuRestore)\.[A-Za-z]+$|^(imageBytes|observedStallUs|dumpMsPerGiB)$/, 'a metric path such as criuDump.frozenTimeUs or durations.dumpMs'),
        maxIncrease: z.number().positive(),
        /** Below this baseline value the metric is noise and not compared. */
        minBaseline: z.number().nonnegative().default(0),
      }),
    )
    .default([
      { metric: 'criuDump.frozenTimeUs', maxIncrease: 0.5, minBaseline: 5000 },
      { metric: 'durations.restoreMs', maxIncrease: 1.0, minBaseline: 50 },
    ]),
  /** A repeated cell below this success rate is a regression. */
  minSuccessRate: z.number().min(0).max(1).default(0.99),
  /** Does an unstable cell (repetitions disagree, or it flips between recent runs) fail the gate? */
  unstable: z.enum(['fail', 'report']).default('report'),
  /** Known failures: expected until they expire; an expired entry fails the gate. */
  knownIssues: z
    .array(
      z.strictObject({
        pool: Glob,
        /** SUITE/CHECK glob, e.g. "round-trip/*" or "criu-check/feature:*". */
        check: Glob,
        reason: z.string().min(1),
        expires: z.iso.date({ error: 'a date YYYY-MM-DD' }),
      }),
    )
    .default([]),
  /**
   * Pools (or, with check, cells) that may leave the matrix: in the baseline,
   * absent now, and not a regression until the entry expires. An expired
   * entry fails the gate like an expired known issue.
   */
  retired: z
    .array(
      z.strictObject({
        pool: Glob,
        /** SUITE/CHECK glob: retire only these cells of the pool (e.g. a suite the config no longer runs). Absent: the whole pool. */
        check: Glob.optional(),
        reason: z.string().min(1),
        expires: z.iso.date({ error: 'a date YYYY-MM-DD' }),
      }),
    )
    .default([]),
  /** Version rules: where the pool's CRIU and kernel match, these cells must have this status. */
  rules: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        when: z.strictObject({ criu: Range.optional(), kernel: Range.optional(), pool: Glob.optional() }),
        check: Glob,
        must: z.enum(['PASS', 'PASS_OR_SKIP']),
      }),
    )
    .default([]),
});
export type Policy = z.infer<typeof Policy>;

export const DEFAULT_POLICY: Policy = Policy.parse({});

export async function loadPolicy(file?: string): Promise<Policy> {
  if (!file) return DEFAULT_POLICY;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new ConfigError(file, '', `a readable policy file (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  // As a pools file: strict JSON for .json; empty, binary and syntax errors with the line where they start.
  const src = parseSource(decodeSource(bytes, file), file, 'a gate policy (YAML or JSON; see the README)');
  const r = Policy.safeParse(src.data);
  if (!r.success) throw issueToError(file, r.error.issues[0]!);
  return r.data;
}

const globs = new Map<string, RegExp>();

/** Shell-style glob (only * and ?) to a whole-string match. */
export function globMatch(glob: string, s: string): boolean {
  let re = globs.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    globs.set(glob, re);
  }
  return re.test(s);
}

/** Versions as operators write them: "6.1.0-56-amd64", "6.18.44-fc-v782", "6.12.117+deb13-amd64", "4.1.1". */
export function looseVersion(v: string | null | undefined): semver.SemVer | null {
  return v ? semver.coerce(v) : null;
}
