import { CLASS_CRIU_OPTIONS, type ClassCriuOption } from '../config/catalogue/index.ts';
import type { Diagnosis } from './diagnose.ts';
import { activeSignatures, type Signature } from './signatures.ts';

/**
 * What the harness itself can apply to prove a diagnosis's remediation: an
 * environment for CRIU and the workload, extra CRIU options, or another
 * container runtime on the same node (for podman: its OCI runtime). A
 * signature's `remedy:` block (src/criu/signatures/*.yaml, or an operator's
 * file); see SIG-CONTRACT.md.
 */
export type Remedy = NonNullable<Signature['remedy']>;

/** The remedies of the active signatures (built-in and the operator's), by diagnosis id. */
export function remedyTable(): Readonly<Record<string, Remedy>> {
  return Object.fromEntries(activeSignatures().flatMap((s) => (s.remedy ? [[s.id, s.remedy] as const] : [])));
}

/** A remedy the harness cannot apply in this place (a CRIU flag a container runtime does not pass on): the remedy cannot run, and says why. */
export class RemedyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemedyError';
  }
}

/** The first diagnosis that explains the failure (not a note) and has a remedy in TABLE (default: the signature files'). */
export function remedyFor(diagnoses: readonly Pick<Diagnosis, 'id' | 'blame'>[], table: Readonly<Record<string, Remedy>> = remedyTable()): { signature: string; remedy: Remedy } | undefined {
  for (const d of diagnoses) {
    if (d.blame === 'note') continue;
    const remedy = table[d.id];
    if (remedy && (Object.keys(remedy.env ?? {}).length || remedy.criuOptions?.length || remedy.runtime)) return { signature: d.id, remedy };
  }
  return undefined;
}

/** The remedy as a person would type it: "CRIU_FAULT=130 --link-remap", "runtime runc". */
export function describeRemedy(r: Remedy): string {
  return [...Object.entries(r.env ?? {}).map(([k, v]) => `${k}=${v}`), ...(r.criuOptions ?? []), ...(r.runtime ? [`runtime ${r.runtime}`] : [])].join(' ');
}

/**
 * "--link-remap" → linkRemap: the remedy's CRIU options as the typed
 * options a container runtime can pass on (ALLOWED; default every class
 * option). One it cannot is a RemedyError naming those it can.
 */
export function remedyCriuOptions(r: Remedy, allowed: readonly ClassCriuOption[] = CLASS_CRIU_OPTIONS): ClassCriuOption[] {
  return (r.criuOptions ?? []).map((flag) => {
    const key = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
    if (!(allowed as readonly string[]).includes(key)) throw new RemedyError(`the remedy's CRIU option ${flag} is not one the harness can pass on here (it can: ${allowed.map(flagOf).join(', ')})`);
    return key as ClassCriuOption;
  });
}

function flagOf(o: ClassCriuOption): string {
  return `--${o.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
}
