import type { Environment } from '../environments/environment.ts';

export const RUNTIMES = ['runc', 'crun', 'podman'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** What a node image's container runtime is and whether it can checkpoint here. */
export interface RuntimeInfo {
  name: RuntimeName;
  /** null: not installed in the node image. */
  version: string | null;
  /** Build features the runtime reports (crun: +CRIU, +SYSTEMD, …). */
  features: string[];
  /** Can this runtime checkpoint/restore in this node image at all? */
  checkpoint: boolean;
  /** Why not (names the missing capability), or what it relies on. */
  detail: string;
  /** podman: the OCI runtime it drives for checkpoint/restore. */
  ociRuntime?: string;
  /** How the harness runs it (see RUNTIME_SETTINGS). */
  settings?: Record<string, string>;
}

/** The settings the drivers use (src/runtimes/oci-runtime.ts, podman.ts), recorded in every inventory. */
export const RUNTIME_SETTINGS: Record<RuntimeName, Record<string, string>> = {
  runc: { cgroupManager: 'cgroupfs', cgroupParent: '/criu-compat', network: 'the node\'s (hostNetwork)', rootfs: 'OCI bundle built by the harness', stdio: '/dev/null' },
  crun: { cgroupManager: 'cgroupfs', cgroupParent: '/criu-compat', network: 'the node\'s (hostNetwork)', rootfs: 'OCI bundle built by the harness', stdio: '/dev/null' },
  podman: { cgroupManager: 'cgroupfs', cgroupParent: '/criu-compat', storageDriver: 'vfs', network: 'bridge (podman default network; netavark, firewall_driver none)', ulimit: 'host', image: 'podman import of the workload rootfs', export: 'gzip' },
};

/** "runc version 1.1.15" / "crun version 1.21" / "podman version 5.4.2" → the version. */
export function parseRuntimeVersion(name: RuntimeName, out: string): string | undefined {
  return new RegExp(`^${name} version (\\S+)`, 'm').exec(out)?.[1];
}

/** crun prints its build features as one line of +NAME/-NAME words. */
export function parseCrunFeatures(out: string): string[] {
  const line = out.split('\n').find((l) => /^[+-][A-Z]/.test(l.trim()));
  return line ? line.trim().split(/\s+/) : [];
}

/**
 * Probes runc, crun and podman inside an environment. runc checkpoints
 * through the node image's criu binary; crun only when built with CRIU
 * support (+CRIU: it links libcriu); podman through the OCI runtime it is
 * given (runc here, else crun when that one can).
 */
export async function detectRuntimes(env: Environment, timeoutMs: number): Promise<RuntimeInfo[]> {
  const sh = (cmd: string) => env.exec(['sh', '-c', cmd], { timeoutMs });
  const [runc, crun, podman, criu] = await Promise.all([sh('runc --version 2>&1'), sh('crun --version 2>&1'), sh('podman --version 2>&1'), sh('command -v criu')]);
  const hasCriu = criu.exitCode === 0;
  const out: RuntimeInfo[] = [];
  const runcVersion = runc.exitCode === 0 ? (parseRuntimeVersion('runc', runc.stdout) ?? null) : null;
  out.push({
    name: 'runc',
    version: runcVersion,
    features: [],
    checkpoint: runcVersion !== null && hasCriu,
    ...(runcVersion ? { settings: RUNTIME_SETTINGS.runc } : {}),
    detail: runcVersion === null ? 'runc is not installed in this node image' : hasCriu ? 'checkpoints with the node image\'s criu binary' : 'no criu binary in this node image (runc runs criu for checkpoint/restore)',
  });
  const crunVersion = crun.exitCode === 0 ? (parseRuntimeVersion('crun', crun.stdout) ?? null) : null;
  const crunFeatures = crunVersion ? parseCrunFeatures(crun.stdout) : [];
  const crunCriu = crunFeatures.includes('+CRIU');
  out.push({
    name: 'crun',
    version: crunVersion,
    features: crunFeatures,
    checkpoint: crunCriu,
    ...(crunVersion ? { settings: RUNTIME_SETTINGS.crun } : {}),
    detail:
      crunVersion === null
        ? 'crun is not installed in this node image'
        : crunCriu
          ? 'built with CRIU support (+CRIU, libcriu)'
          : `capability missing: crun ${crunVersion} is built without CRIU support (crun --version lacks +CRIU)`,
  });
  const podmanVersion = podman.exitCode === 0 ? (parseRuntimeVersion('podman', podman.stdout) ?? null) : null;
  const oci = runcVersion && hasCriu ? 'runc' : crunCriu ? 'crun' : undefined;
  out.push({
    name: 'podman',
    version: podmanVersion,
    features: [],
    checkpoint: podmanVersion !== null && oci !== undefined,
    detail:
      podmanVersion === null
        ? 'podman is not installed in this node image'
        : oci
          ? `checkpoints through ${oci}`
          : 'capability missing: no OCI runtime in this node image can checkpoint (runc with criu, or crun built with +CRIU)',
    ...(podmanVersion && oci ? { ociRuntime: oci } : {}),
    ...(podmanVersion ? { settings: RUNTIME_SETTINGS.podman } : {}),
  });
  return out;
}
