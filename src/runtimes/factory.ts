import type { Status } from '../results/schema.ts';
import type { Criu } from '../criu/driver.ts';
import type { Environment } from '../environments/environment.ts';
import type { ContainerRuntime, PeerOptions } from './container-runtime.ts';
import type { RuntimeInfo } from './detect.ts';
import { OciRuntime } from './oci-runtime.ts';
import { PodmanRuntime } from './podman.ts';

export interface RuntimeOptions {
  env: Environment;
  /** Extra environment for the runtime (reaches the criu it runs, e.g. CRIU_FAULT). */
  criuEnv: Record<string, string>;
  /** Unique per driver: names its cgroups, so teardown removes exactly those. */
  tag: string;
  timeoutMs: number;
  /** The node's CRIU: probes the features a capability needs. */
  criu: Criu;
  /** Timeout of a feature probe. */
  probeTimeoutMs: number;
  /** runc/crun: where they keep their containers (the same path on both nodes of a migration). */
  baseDir?: string | undefined;
  /** Aborts the driver's runs, checkpoints and restores (its removal still runs). */
  signal?: AbortSignal | undefined;
}

/**
 * The driver of an inventoried runtime, with what it can do here: the one
 * place that knows which class drives which runtime. Capabilities that need
 * CRIU's word are probed on first use, once per driver.
 */
export function createRuntime(info: RuntimeInfo, o: RuntimeOptions): ContainerRuntime {
  const capabilities = capabilitiesOf(info, o);
  const d = { env: o.env, criuEnv: o.criuEnv, tag: o.tag, timeoutMs: o.timeoutMs, capabilities, baseDir: o.baseDir, signal: o.signal };
  return info.name === 'podman' ? new PodmanRuntime({ ...d, ociRuntime: info.ociRuntime ?? 'runc' }) : new OciRuntime(info.name, d);
}

function capabilitiesOf(info: RuntimeInfo, o: Pick<RuntimeOptions, 'criu' | 'probeTimeoutMs'>) {
  let tracking: Promise<{ status: Status; reason: string }> | undefined;
  return {
    checkpoint: { ok: info.checkpoint, why: info.detail },
    preDump: () => (tracking ??= o.criu.checkFeature('mem_dirty_track', { timeoutMs: o.probeTimeoutMs }).then(({ status, reason }) => ({ status, reason }))),
  };
}

/** What a node of another pool brings to a migration's import: its runtime's CRIU settings, OCI runtime and capabilities (see ExportImport.peerOn). */
export function peerOptions(info: RuntimeInfo, o: Pick<RuntimeOptions, 'criuEnv' | 'criu' | 'probeTimeoutMs'>): PeerOptions {
  return { criuEnv: o.criuEnv, ociRuntime: info.ociRuntime ?? 'runc', capabilities: capabilitiesOf(info, o) };
}
