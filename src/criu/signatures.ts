import semver from 'semver';
import { builtinSignatures, loadOperatorSignatures, type LoadedSignature } from '../config/signature-files.ts';
import type { SignatureStage } from '../config/signature-schema.ts';
import type { Blame, DiagnoseInput } from './diagnose.ts';
import { DETAIL_FNS, type DetailFn } from './signature-hooks.ts';

/**
 * The knowledge base as matchers: every signature file (built-in families
 * in src/criu/signatures/*.yaml, then the operator's settings.signatures)
 * compiled once into a function from a failure's evidence to the line that
 * proves it. The order is the diagnosis order: specific signatures in file
 * order, then the fallbacks (generic lines a specific one explains).
 */
export interface Signature {
  id: string;
  stages: readonly SignatureStage[];
  fatal: boolean;
  title: string;
  blame: Blame;
  fallback: boolean;
  cause: string;
  remediation: string;
  detail?: DetailFn;
  reference?: string | string[];
  remedy?: LoadedSignature['remedy'];
  /** The file it was read from. */
  file: string;
  /** The evidence when it matches INPUT, else undefined. */
  match: (input: DiagnoseInput) => string | undefined;
}

function version(v: string | null | undefined): semver.SemVer | null {
  return v ? semver.coerce(v) : null;
}

/**
 * Each `when` condition holds only when the engine knows the value: the
 * caller's, else what CRIU's own log header says ("Version: 4.1.1",
 * "Running on HOST Linux 6.18.44-…"); an unknown version claims nothing.
 */
function whenHolds(w: NonNullable<LoadedSignature['match']['when']>, i: DiagnoseInput): boolean {
  const criu = version(i.criuVersion ?? /\bVersion: (\d+\.\d+(?:\.\d+)?)/.exec(i.text)?.[1]);
  const kernel = version(i.kernelRelease ?? /\bRunning on \S+ Linux (\d+\.\d+(?:\.\d+)?)/.exec(i.text)?.[1]);
  if (w.criuVersionBelow && !(criu && semver.lt(criu, semver.coerce(w.criuVersionBelow)!))) return false;
  if (w.criuVersionAtLeast && !(criu && semver.gte(criu, semver.coerce(w.criuVersionAtLeast)!))) return false;
  if (w.kernelBelow && !(kernel && semver.lt(kernel, semver.coerce(w.kernelBelow)!))) return false;
  if (w.kernelAtLeast && !(kernel && semver.gte(kernel, semver.coerce(w.kernelAtLeast)!))) return false;
  if (w.hwBreakpoints === 'works' && i.hwBreakpoints !== true) return false;
  if (w.hwBreakpoints === 'not-known-to-work' && i.hwBreakpoints === true) return false;
  return true;
}

function pairEvidence(kind: 'destination-older' | 'differ', i: DiagnoseInput): string | undefined {
  const p = i.criuPair;
  const [s, d] = [version(p?.source.criuVersion), version(p?.destination.criuVersion)];
  if (!p || !s || !d) return undefined;
  if (kind === 'destination-older' ? !semver.lt(d, s) : semver.eq(s, d)) return undefined;
  return `criu ${p.source.criuVersion} (${p.source.pool}) ${kind === 'differ' ? '⇄' : '→'} criu ${p.destination.criuVersion} (${p.destination.pool})`;
}

/** A matcher for one signature spec: every condition it gives must hold; the evidence is the matched line, else what matched. */
export function compileSignature(s: LoadedSignature): Signature {
  const m = s.match;
  const flags = m.ignoreCase ? 'i' : '';
  const lineRes = (m.line === undefined ? [] : Array.isArray(m.line) ? m.line : [m.line]).map((r) => new RegExp(r, flags));
  const also = m.alsoLine === undefined ? undefined : new RegExp(m.alsoLine, flags);
  const signal = m.signal === undefined ? undefined : new RegExp(`^(?:${m.signal})$`);
  const match = (i: DiagnoseInput): string | undefined => {
    if (m.timedOut !== undefined && (i.timedOut ?? false) !== m.timedOut) return undefined;
    if (signal && !(i.signal && signal.test(i.signal))) return undefined;
    if (m.exitCode !== undefined && i.exitCode !== m.exitCode) return undefined;
    if (m.when && !whenHolds(m.when, i)) return undefined;
    const pair = m.criuPair && pairEvidence(m.criuPair, i);
    if (m.criuPair && !pair) return undefined;
    let evidence: string | undefined;
    if (lineRes.length) {
      const all = i.text.split('\n');
      const lines = m.tail ? i.text.trimEnd().split('\n').slice(-m.tail) : all;
      for (const re of lineRes) {
        evidence = lines.find((l) => re.test(l));
        if (evidence !== undefined) break;
      }
      if (evidence === undefined) return undefined;
    }
    if (also && !i.text.split('\n').some((l) => also.test(l))) return undefined;
    return evidence ?? pair ?? (i.signal && signal ? `criu killed by ${i.signal}` : m.exitCode !== undefined ? `criu exited with ${m.exitCode}` : 'criu timed out');
  };
  return {
    id: s.id,
    stages: Array.isArray(s.stage) ? s.stage : [s.stage],
    fatal: s.fatal,
    title: s.title,
    blame: s.blame,
    fallback: s.fallback,
    cause: s.cause,
    remediation: s.remediation,
    ...(s.detail ? { detail: DETAIL_FNS[s.detail] } : {}),
    ...(s.reference ? { reference: s.reference } : {}),
    ...(s.remedy ? { remedy: s.remedy } : {}),
    file: s.file,
    match,
  };
}

// Compiled on first use, so that a broken file surfaces as a ConfigError where a command runs (exit 2), not at import.
let builtin: readonly Signature[] | undefined;
let active: readonly Signature[] | undefined;

function builtinSet(): readonly Signature[] {
  builtin ??= builtinSignatures().map(compileSignature);
  return builtin;
}

function order(list: readonly Signature[]): Signature[] {
  return [...list.filter((s) => !s.fallback), ...list.filter((s) => s.fallback)];
}

/** Every signature in diagnosis order: the built-in ones (an operator's override in place of its namesake), then the operator's new ones. */
export function activeSignatures(): readonly Signature[] {
  active ??= order(builtinSet());
  return active;
}

/**
 * Adds the operator's signature files (settings.signatures, absolute paths)
 * to the set, validated again (the config's load checked them first);
 * called where a run starts and in every suite worker. CONFIG_FILE names
 * where the list came from in messages.
 */
export function useOperatorSignatures(files: readonly string[], configFile = 'settings.signatures'): void {
  const extra = loadOperatorSignatures(files, configFile).map(compileSignature);
  const byId = new Map(extra.map((s) => [s.id, s]));
  const base = builtinSet();
  active = order([...base.map((s) => byId.get(s.id) ?? s), ...extra.filter((s) => !base.some((b) => b.id === s.id))]);
}
