import type { Environment } from '../environments/environment.ts';
import { shq } from './container-runtime.ts';

/** An OCI archive that cannot be unpacked into a root filesystem: what is wrong with it, and where. */
export class OciArchiveError extends Error {
  constructor(archive: string, problem: string) {
    super(`OCI archive ${archive}: ${problem} (expected an OCI image layout tar: oci-layout, index.json naming a linux/amd64 image manifest, its layers under blobs/sha256/)`);
    this.name = 'OciArchiveError';
  }
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  platform?: { architecture?: string; os?: string };
}

/** What the unpacked image says about its process (its config's Env and User; the pilot names its own command). */
export interface UnpackedImage {
  env: Record<string, string>;
  layers: number;
}

const INDEX = /application\/vnd\.(oci\.image\.index|docker\.distribution\.manifest\.list)\.v[12]\+json/;

/**
 * Unpacks a local OCI image archive (already in the environment) into a root
 * filesystem directory there, with the node's own tar: the image layout is
 * extracted beside it, the index followed to the linux/amd64 manifest (an
 * index inside an index too), each layer applied in order with its
 * whiteouts (.wh.NAME removes NAME, .wh..wh..opq empties the directory),
 * numeric owners kept. Nothing is pulled from anywhere.
 */
export async function unpackOciArchive(env: Environment, archive: string, rootfs: string, o: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<UnpackedImage> {
  const layout = `${rootfs}.layout`;
  const sh = async (script: string, what: string) => {
    const r = await env.exec(['sh', '-c', script], { timeoutMs: o.timeoutMs, signal: o.signal });
    if (r.exitCode !== 0 || r.timedOut) throw new OciArchiveError(archive, `${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ') || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}`);
    return r.stdout;
  };
  try {
    await sh(`rm -rf ${shq(layout)} ${shq(rootfs)} && mkdir -p ${shq(layout)} ${shq(rootfs)} && chmod 755 ${shq(rootfs)} && tar -xf ${shq(archive)} -C ${shq(layout)} --no-same-owner`, 'extracting the image layout');
    const blob = async (digest: string | undefined): Promise<Buffer> => {
      const m = /^sha256:([0-9a-f]{64})$/.exec(digest ?? '');
      if (!m) throw new OciArchiveError(archive, `a descriptor's digest is not sha256:<64 hex> (got ${JSON.stringify(digest)})`);
      return env.readFile(`${layout}/blobs/sha256/${m[1]}`).catch(() => {
        throw new OciArchiveError(archive, `blob ${digest} is named but not in blobs/sha256/`);
      });
    };
    const json = (buf: Buffer, what: string): Record<string, unknown> => {
      try {
        return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new OciArchiveError(archive, `${what} is not JSON (${(e as Error).message})`);
      }
    };
    const index = json(await env.readFile(`${layout}/index.json`).catch(() => Buffer.from('null')), 'index.json');
    let manifest: Record<string, unknown> | undefined;
    let list = index;
    for (let depth = 0; depth < 4 && !manifest; depth++) {
      const all = (Array.isArray(list?.['manifests']) ? list['manifests'] : []) as Descriptor[];
      const pick = all.find((d) => !d.platform || (d.platform.os === 'linux' && d.platform.architecture === 'amd64'));
      if (!pick) throw new OciArchiveError(archive, `no linux/amd64 image in ${depth ? 'a nested index' : 'index.json'} (${all.length} manifest(s))`);
      const next = json(await blob(pick.digest), `blob ${pick.digest}`);
      if (INDEX.test(String(pick.mediaType ?? next['mediaType'] ?? ''))) list = next;
      else manifest = next;
    }
    if (!manifest) throw new OciArchiveError(archive, 'indexes nested deeper than 4');
    const layers = (Array.isArray(manifest['layers']) ? manifest['layers'] : []) as Descriptor[];
    if (!layers.length) throw new OciArchiveError(archive, 'its image manifest has no layers');
    for (const [i, layer] of layers.entries()) {
      const m = /^sha256:([0-9a-f]{64})$/.exec(layer.digest ?? '');
      if (!m) throw new OciArchiveError(archive, `layer ${i} has no sha256 digest`);
      const type = layer.mediaType ?? '';
      const z = /gzip/.test(type) ? '-z' : /zstd/.test(type) ? '--zstd' : '';
      const file = `${layout}/blobs/sha256/${m[1]}`;
      // Whiteouts first (they remove what lower layers put there), then the layer, then the whiteout files themselves.
      await sh(
        [
          'set -e',
          `tar ${z} -tf ${shq(file)} | sed -e 's|^\\./||' > ${shq(layout)}/entries`,
          `grep -E '(^|/)\\.wh\\.' ${shq(layout)}/entries | while IFS= read -r w; do d=$(dirname "$w"); b=$(basename "$w"); if [ "$b" = .wh..wh..opq ]; then find ${shq(rootfs)}/"$d" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; else rm -rf ${shq(rootfs)}/"$d/\${b#.wh.}"; fi; done || true`,
          `tar ${z} -xpf ${shq(file)} -C ${shq(rootfs)} --numeric-owner`,
          `find ${shq(rootfs)} -name '.wh.*' -exec rm -rf {} +`,
        ].join('\n'),
        `applying layer ${i + 1}/${layers.length} (${layer.digest})`,
      );
    }
    const config = (manifest['config'] ?? {}) as Descriptor;
    const image = config.digest ? json(await blob(config.digest), 'the image config') : {};
    const envList = ((image['config'] as { Env?: unknown } | undefined)?.Env ?? []) as unknown[];
    const out: Record<string, string> = {};
    for (const e of envList) if (typeof e === 'string' && e.includes('=')) out[e.slice(0, e.indexOf('='))] = e.slice(e.indexOf('=') + 1);
    return { env: out, layers: layers.length };
  } finally {
    await env.remove(layout).catch(() => undefined);
  }
}
