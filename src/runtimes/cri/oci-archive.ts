import { shq } from '../container-runtime.ts';

/**
 * A one-layer OCI image archive (image layout: oci-layout, index.json,
 * blobs/sha256/…) made inside the node from a directory of files, with the
 * node image's own tar and sha256sum, so that nothing is pulled from a
 * registry. The layer is an uncompressed tar (its digest is its diff ID);
 * the index names the image with containerd's image-name annotation, which
 * `ctr images import` takes as the image's name.
 */
export interface ArchiveSpec {
  /** Directory whose contents become the image's root filesystem. */
  rootDir: string;
  /** The archive to write. */
  out: string;
  /** Image name, e.g. localhost/criu-compat/pause:1. */
  name: string;
  entrypoint: string[];
  env?: string[];
  /** Also lay the image out for cc-registry: ROOT/REPO/{manifests,blobs}/…, the tag a link to the manifest's digest. */
  registry?: { root: string; repo: string; tag: string };
}

/** A sh script (run inside the node) that writes the archive; prints nothing on success. */
export function ociArchiveScript(a: ArchiveSpec): string {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: a.entrypoint, Env: a.env ?? ['PATH=/cc:/usr/bin:/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: ['sha256:@LAYER@'] },
    history: [{ created_by: 'criu-compat (built on the node, nothing pulled)' }],
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:@CONFIG@', size: '@CONFIGSIZE@' },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:@LAYER@', size: '@LAYERSIZE@' }],
  };
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: 'sha256:@MANIFEST@',
        size: '@MANIFESTSIZE@',
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': a.name, 'org.opencontainers.image.ref.name': a.name.split(':').pop() },
      },
    ],
  };
  // Sizes are numbers in JSON: the quoted placeholders are replaced with the bare number.
  const fill = (json: object) => shq(JSON.stringify(json));
  const w = `${a.out}.d`;
  return [
    'set -e',
    `rm -rf ${shq(w)} && mkdir -p ${shq(w)}/blobs/sha256`,
    `tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C ${shq(a.rootDir)} -cf ${shq(w)}/layer.tar .`,
    `layer=$(sha256sum ${shq(w)}/layer.tar | cut -d' ' -f1); lsize=$(stat -c %s ${shq(w)}/layer.tar); mv ${shq(w)}/layer.tar ${shq(w)}/blobs/sha256/$layer`,
    `printf %s ${fill(config)} | sed "s/@LAYER@/$layer/g" > ${shq(w)}/config.json`,
    `config=$(sha256sum ${shq(w)}/config.json | cut -d' ' -f1); csize=$(stat -c %s ${shq(w)}/config.json); mv ${shq(w)}/config.json ${shq(w)}/blobs/sha256/$config`,
    `printf %s ${fill(manifest)} | sed -e "s/@LAYER@/$layer/g" -e "s/@CONFIG@/$config/g" -e "s/\\"@CONFIGSIZE@\\"/$csize/" -e "s/\\"@LAYERSIZE@\\"/$lsize/" > ${shq(w)}/manifest.json`,
    `manifest=$(sha256sum ${shq(w)}/manifest.json | cut -d' ' -f1); msize=$(stat -c %s ${shq(w)}/manifest.json); mv ${shq(w)}/manifest.json ${shq(w)}/blobs/sha256/$manifest`,
    `printf %s ${fill(index)} | sed -e "s/@MANIFEST@/$manifest/g" -e "s/\\"@MANIFESTSIZE@\\"/$msize/" > ${shq(w)}/index.json`,
    `printf '{"imageLayoutVersion":"1.0.0"}' > ${shq(w)}/oci-layout`,
    `tar --numeric-owner -C ${shq(w)} -cf ${shq(a.out)} oci-layout index.json blobs`,
    ...(a.registry
      ? (() => {
          const r = `${a.registry.root}/${a.registry.repo}`;
          return [
            `mkdir -p ${shq(r)}/manifests ${shq(r)}/blobs`,
            `for b in ${shq(w)}/blobs/sha256/*; do cp "$b" ${shq(r)}/blobs/sha256:$(basename "$b"); done`,
            `cp ${shq(w)}/blobs/sha256/$manifest ${shq(r)}/manifests/sha256:$manifest`,
            `ln -sfn sha256:$manifest ${shq(r)}/manifests/${shq(a.registry.tag)}`,
          ];
        })()
      : []),
    `rm -rf ${shq(w)}`,
  ].join('\n');
}
