import { CLASS_CRIU_OPTIONS, type ClassCriuOption } from '../config/catalogue/index.ts';
import type { Diagnosis } from './diagnose.ts';

/**
 * What the harness itself can apply to prove a diagnosis's remediation: an
 * environment for CRIU and the workload, extra CRIU options, or another
 * container runtime on the same node (for podman: its OCI runtime). The
 * shape of a signature's `remedy:` block (see SIG-CONTRACT.md); until the
 * signatures are data, the table below is keyed by diagnosis id.
 */
export interface Remedy {
  env?: Readonly<Record<string, string>>;
  /** CRIU flags, as `criu --help` spells them ("--tcp-established"). */
  criuOptions?: readonly string[];
  runtime?: 'runc' | 'crun' | 'podman';
}

/**
 * The remedies of the built-in diagnoses, by diagnosis id. The signature
 * files' `remedy:` blocks replace this table (REMEDIES stays the name the
 * runner reads).
 */
export const REMEDIES: Readonly<Record<string, Remedy>> = {
  'hw-breakpoints': { env: { CRIU_FAULT: '130' } },
  'rseq-no-get-rseq-conf': { env: { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' } },
  'link-remap-needed': { criuOptions: ['--link-remap'] },
  'tcp-established-needed': { criuOptions: ['--tcp-established'] },
  'crun-cgroup-hybrid': { runtime: 'runc' },
  'runtime-no-checkpoint': { runtime: 'runc' },
};

/** A malformed remedy (a CRIU flag the harness cannot pass): the remedy cannot run, and says why. */
export class RemedyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemedyError';
  }
}

/** The first diagnosis that explains the failure (not a note) and has a remedy in TABLE. */
export function remedyFor(diagnoses: readonly Pick<Diagnosis, 'id' | 'blame'>[], table: Readonly<Record<string, Remedy>> = REMEDIES): { signature: string; remedy: Remedy } | undefined {
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

/** "--link-remap" → linkRemap: the typed CRIU options of the remedy (see commands.ts); a flag the harness does not pass on is a RemedyError. */
export function remedyCriuOptions(r: Remedy): ClassCriuOption[] {
  return (r.criuOptions ?? []).map((flag) => {
    const key = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
    if (!(CLASS_CRIU_OPTIONS as readonly string[]).includes(key)) throw new RemedyError(`the remedy's CRIU option ${flag} is not one the harness passes on (it knows ${CLASS_CRIU_OPTIONS.map((o) => `--${o.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`).join(', ')})`);
    return key as ClassCriuOption;
  });
}
