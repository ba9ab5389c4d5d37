import type { SignatureStage } from '../config/signature-schema.ts';
import type { Status } from '../results/schema.ts';
import type { CpuInfo } from './cpu-features.ts';
import { activeSignatures, type Signature } from './signatures.ts';

/**
 * Known failure signatures (data: src/criu/signatures/*.yaml, compiled by
 * src/criu/signatures.ts): text seen in CRIU's log or output → the cause
 * and what to do. Blame decides the verdict: "tuple" failures are FAIL
 * (this kernel/image/runtime combination is broken), "environment" ones are
 * ERROR (the harness or the machine broke, not the tuple), "note" never
 * changes a verdict but is shown beside it.
 */
export type Blame = 'tuple' | 'environment' | 'note';

export interface Diagnosis {
  id: string;
  /** CRIU cannot work at all with this cause: every command fails the same way. */
  fatal: boolean;
  title: string;
  cause: string;
  remediation: string;
  blame: Blame;
  /** The line that matched, for the reader to find it in the log. */
  evidence: string;
}

export interface DiagnoseInput {
  /** CRIU log plus the command's stdout and stderr. */
  text: string;
  timedOut?: boolean;
  /** CRIU was killed by this signal (SIGSEGV…) instead of exiting. */
  signal?: string;
  /** The pool's breakpoint probe: true when debug-register breakpoints reach a ptracer there, null or absent when unknown. */
  hwBreakpoints?: boolean | null;
  /** A migration: the CPUs of the node the checkpoint came from and of the node restoring it (the pools' inventories). */
  cpu?: { source?: CpuInfo | null | undefined; destination?: CpuInfo | null | undefined };
  /** Where in the cell the failure happened: only signatures of that stage (or "any") apply. Absent or "any": every stage but verify. */
  stage?: SignatureStage;
  exitCode?: number;
  /** What `when:` conditions compare with: the pool's CRIU version and kernel release, when known. */
  criuVersion?: string | null;
  kernelRelease?: string | null;
  /** A migration: the two pools' CRIU versions. */
  criuPair?: { source: PoolCriu; destination: PoolCriu };
}

interface PoolCriu {
  pool: string;
  criuVersion?: string | null | undefined;
}

/** Known causes of a restored workload's FAIL line (its own words: the signatures of stage verify). */
export function diagnoseVerdict(message: string): Diagnosis[] {
  return matchAll(activeSignatures().filter((s) => s.stages.includes('verify')), { text: message });
}

/** Every known signature found in the input, most specific first, notes last. */
export function diagnose(input: DiagnoseInput): Diagnosis[] {
  const stage = input.stage === 'any' ? undefined : input.stage;
  const applies = (s: Signature) => (stage ? s.stages.includes(stage) || s.stages.includes('any') : !s.stages.every((x) => x === 'verify'));
  return matchAll(activeSignatures().filter(applies), input);
}

function matchAll(signatures: readonly Signature[], input: DiagnoseInput): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const s of signatures) {
    const evidence = s.match(input);
    if (evidence === undefined) continue;
    const detail = s.detail?.(input, evidence);
    out.push({ id: s.id, fatal: s.fatal, title: s.title, cause: detail ? `${detail} ${s.cause}` : s.cause, remediation: s.remediation, blame: s.blame, evidence: evidence.trim().slice(0, 300) });
  }
  return [...out.filter((d) => d.blame !== 'note'), ...out.filter((d) => d.blame === 'note')];
}

/** How many decisive lines an undiagnosed failure shows. */
const DECISIVE_LINES = 3;

/**
 * A failure no signature explains: the stage it happened at and its
 * decisive lines (the first error lines that no note explains, else the
 * last lines, else the harness's own reason), so the reader always has
 * something to go on. Blame "note": it never changes the verdict.
 */
export function undiagnosed(input: { text: string; stage?: SignatureStage | undefined; reason?: string | undefined }): Diagnosis {
  const notes = activeSignatures().filter((s) => s.blame === 'note');
  const lines = input.text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const explained = (l: string) => notes.some((s) => s.match({ text: l }) !== undefined);
  const errors = lines.filter((l) => /\bError\b|\bFAIL(ED)?\b|\bfailed\b|\bBUG\b/.test(l) && !explained(l));
  const decisive = (errors.length ? errors.slice(0, DECISIVE_LINES) : lines.filter((l) => !explained(l)).slice(-DECISIVE_LINES)).map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l));
  const where = input.stage && input.stage !== 'any' ? `at ${input.stage}` : 'at an unknown stage';
  const evidence = decisive.length ? decisive.join(' | ') : input.reason?.trim() || `no output ${where}`;
  return {
    id: 'undiagnosed',
    fatal: false,
    title: `A failure no known signature explains (${where})`,
    cause: `No signature of the knowledge base matches this failure ${where}. Decisive lines: ${evidence}`,
    remediation: 'Read the log excerpt beside it; keep the artifacts (--keep-artifacts) and add a signature for it (settings.signatures, see the README) once the cause is known.',
    blame: 'note',
    evidence: evidence.slice(0, 300),
  };
}

/** DIAGNOSES plus `undiagnosed` when none of them explains the failure (only notes, or nothing). */
export function withUndiagnosed(diagnoses: readonly Diagnosis[], input: Parameters<typeof undiagnosed>[0]): Diagnosis[] {
  if (diagnoses.some((d) => d.blame !== 'note')) return [...diagnoses];
  return [...diagnoses, undiagnosed(input)];
}

/** The stage a CRIU command is (its first argument), for signatures and undiagnosed failures. */
export function stageOfCriu(args: readonly string[]): SignatureStage {
  const cmd = args[0] ?? '';
  return (['check', 'dump', 'pre-dump', 'restore', 'page-server', 'lazy-pages'] as const).find((s) => s === cmd) ?? 'any';
}

/** The lines of a CRIU log worth showing: errors and warnings, then the last lines. Never memory contents. */
export function logExcerpt(text: string, maxErrors = 12, tail = 4): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => /\b(Error|Warn)\b\s*\(|^Error|^Warning|FAIL/.test(l)).slice(-maxErrors);
  const last = lines.slice(-tail).filter((l) => !errors.includes(l));
  return [...errors, ...last].map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
}

/**
 * Status from an operation that failed: FAIL when the tuple is to blame,
 * ERROR when a known signature blames the environment.
 */
export function failureStatus(diagnoses: readonly Diagnosis[]): Status {
  return diagnoses.some((d) => d.blame === 'environment') ? 'ERROR' : 'FAIL';
}

/**
 * A migration whose restore failed where the destination's CRIU is older
 * than the source's: CRIU's images are not promised to be readable by an
 * older CRIU (seen here: 4.2.1's images make 4.1.1 fail on the vDSO's ELF
 * header). Decided from the two pools' CRIU versions, not from a log line.
 */
export function olderCriuOnDestination(source: PoolCriu, destination: PoolCriu): Diagnosis | undefined {
  return diagnose({ text: '', criuPair: { source, destination } }).find((d) => d.id === 'criu-older-on-destination');
}

/**
 * page-server and lazy migrations between two CRIU versions: the page
 * transfer protocol is CRIU's own and not promised across versions (seen
 * here: 4.1.1's dump stalls against 4.2.1's page server, and 4.2.1's dump is
 * reset by 4.1.1's). Decided from the two versions when such a migration failed.
 */
export function criuVersionsOnTheWire(source: PoolCriu, destination: PoolCriu): Diagnosis | undefined {
  return diagnose({ text: '', criuPair: { source, destination } }).find((d) => d.id === 'criu-versions-on-the-wire');
}
