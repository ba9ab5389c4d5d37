import type { DetailHook } from '../config/signature-schema.ts';
import { cpuFeaturesNamedInLog, featureList, missingCpuFeatures } from './cpu-features.ts';
import type { DiagnoseInput } from './diagnose.ts';

/**
 * What a signature's text cannot say by itself: the detail of one
 * occurrence (which file, which address, which CPU features the destination
 * lacks, which two CRIU versions), put before the signature's cause. A
 * signature file names a hook (`detail: file-missing`); each lives here.
 */
export type DetailFn = (input: DiagnoseInput, evidence: string) => string | undefined;

/** CRIU names files relative to the root of the mount namespace ("tmp/x"): show them as absolute paths. */
const abs = (p: string) => (p.startsWith('/') ? p : `/${p}`);

function cpuDetail(i: DiagnoseInput, evidence: string): string | undefined {
  const named = cpuFeaturesNamedInLog(evidence);
  const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
  const parts: string[] = [];
  if (missing?.length)
    parts.push(`The destination's CPU (${i.cpu!.destination!.model}) lacks ${missing.length} feature${missing.length === 1 ? '' : 's'} the source's (${i.cpu!.source!.model}) offered: ${featureList(missing)}.`);
  else if (missing) parts.push(`The two inventories show no feature the destination lacks (${i.cpu!.source!.model} → ${i.cpu!.destination!.model}); the difference is in what the CPUs expose to CRIU's check.`);
  if (named.length) parts.push(`CRIU names: ${named.join(', ')}.`);
  return parts.length ? parts.join(' ') : undefined;
}

/** The socket CRIU was restoring when it failed: the last "inet: Restore: … port P … src_addr A" line before the error. */
function tcpDetail(i: DiagnoseInput, evidence: string): string | undefined {
  const lines = i.text.split('\n');
  const at = lines.indexOf(evidence);
  const before = at < 0 ? lines : lines.slice(0, at);
  const sock = before.reverse().find((l) => /inet: \s*Restore: .*src_addr/.test(l));
  const addr = sock && /src_addr (\S+)/.exec(sock)?.[1];
  if (!addr) return undefined;
  const port = /\bport (\d+)/.exec(sock)?.[1];
  const state = /\bstate (\S+)/.exec(sock)?.[1];
  return `The checkpointed socket's local address ${addr}${port ? ` (port ${port}${state ? `, ${state}` : ''})` : ''} is not configured on the destination.`;
}

export const DETAIL_FNS: Record<DetailHook, DetailFn> = {
  'cpu-features-missing': cpuDetail,
  'cpu-strict-check': (i) => {
    const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
    if (!missing) return undefined;
    return missing.length
      ? `The destination's CPU lacks ${featureList(missing)}.`
      : `The destination's CPU (${i.cpu!.destination!.model}) has every feature of the source's (${i.cpu!.source!.model}); only the check stops it.`;
  },
  'cpu-features-lacking': (i) => {
    const missing = missingCpuFeatures(i.cpu?.source, i.cpu?.destination);
    return missing?.length ? `The destination's CPU lacks ${featureList(missing)}.` : undefined;
  },
  'file-missing': (_i, ev) => {
    const f = /Can't open file (\S+) on restore/.exec(ev)?.[1];
    return f ? `${abs(f)} does not exist where the restore runs.` : undefined;
  },
  'file-size-differs': (_i, ev) => {
    const m = /File (\S+) has bad size (\d+) \(expect (\d+)\)/.exec(ev);
    if (!m) return undefined;
    const [have, want] = [Number(m[2]), Number(m[3])];
    return `${abs(m[1]!)} is ${have} bytes where the restore runs; the checkpoint recorded ${want} (${have < want ? `${want - have} bytes shorter` : `${have - want} bytes longer`}).`;
  },
  'file-mode-differs': (_i, ev) => {
    const m = /File (\S+) has bad mode (\d+) \(expect (\d+)\)/.exec(ev);
    return m ? `${abs(m[1]!)} has mode ${m[2]!.slice(-4)} where the restore runs; the checkpoint recorded ${m[3]!.slice(-4)}.` : undefined;
  },
  'tcp-socket-address': tcpDetail,
  'criu-pair-images': ({ criuPair: p }) => (p ? `The images were written by CRIU ${p.source.criuVersion} on ${p.source.pool}; ${p.destination.pool} restores with CRIU ${p.destination.criuVersion}.` : undefined),
  'criu-pair-wire': ({ criuPair: p }) => (p ? `Pages went over the network between CRIU ${p.source.criuVersion} (${p.source.pool}) and CRIU ${p.destination.criuVersion} (${p.destination.pool}).` : undefined),
};
