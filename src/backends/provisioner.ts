import type { LoadedConfig } from '../config/load.ts';
import type { KernelSpec } from '../config/schema.ts';
import { buildGuestRoot, type GuestRoot } from '../images/guest-root.ts';
import { resolveImage, type NodeImage } from '../images/node-image.ts';
import { resolveKernel, type Kernel } from '../kernels/kernel.ts';

export interface ProvisionerOptions {
  cacheDir: string;
  mirror?: string | undefined;
  /** Ctrl-C: stops image, kernel and guest-root builds at once. */
  signal?: AbortSignal | undefined;
  /** Progress of a shared build: an image (by name) or a kernel (by kernelKey). */
  report(kind: 'image' | 'kernel', key: string, what: string): void;
}

/** Node images, kernels and guest roots of a run, each resolved once however many pools share it. */
export interface Provisioner {
  image(name: string): Promise<NodeImage>;
  kernel(spec: Exclude<KernelSpec, 'host'>): Promise<Kernel>;
  guestRoot(kernel: Kernel, image: NodeImage, agent: string, modules: readonly string[], onProgress: (what: string) => void): Promise<GuestRoot>;
}

/** The key under which pools share a kernel (and under which its progress is reported). */
export function kernelKey(spec: KernelSpec): string {
  return JSON.stringify(spec);
}

export function createProvisioner(loaded: LoadedConfig, o: ProvisionerOptions): Provisioner {
  const timeoutMs = loaded.config.settings.timeouts.imageBuildMs;
  const images = new Map<string, Promise<NodeImage>>();
  const kernels = new Map<string, Promise<Kernel>>();
  const roots = new Map<string, Promise<GuestRoot>>();
  return {
    image: (name) =>
      shared(images, name, () =>
        resolveImage(name, loaded.images[name]!, {
          cacheDir: o.cacheDir,
          buildTimeoutMs: timeoutMs,
          ...(o.mirror ? { mirror: o.mirror } : {}),
          signal: o.signal,
          onProgress: (what) => o.report('image', name, what),
        }),
      ),
    kernel: (spec) =>
      shared(kernels, kernelKey(spec), () =>
        resolveKernel(spec, { cacheDir: o.cacheDir, mirror: o.mirror, timeoutMs, signal: o.signal, onProgress: (what) => o.report('kernel', kernelKey(spec), what) }),
      ),
    guestRoot: (kernel, image, agent, modules, onProgress) =>
      shared(roots, `${kernel.key}/${image.key}/${modules.join(',')}`, () =>
        buildGuestRoot(kernel, image, agent, modules, { cacheDir: o.cacheDir, timeoutMs, signal: o.signal, onProgress }),
      ),
  };
}

/** The promise already in MAP under KEY, or the one MAKE starts (and MAP keeps). */
function shared<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) map.set(key, (p = make()));
  return p;
}
