// An OCI image-layout tarball (oci-layout, index.json, blobs/sha256/*) holding a one-layer image,
// named by the `io.containerd.image.name` annotation so `ctr images import` tags it. Pure: the
// same files give the same bytes and digests.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { formatTar, type TarEntry } from './tar.js';

export interface ImageSpec {
  /** Full reference, e.g. `localhost/cri-rebalancer/busybox:test`. */
  readonly reference: string;
  readonly files: readonly TarEntry[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly data: Buffer;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: sha256(data), size: data.length, data };
}

function jsonBlob(mediaType: string, value: unknown): Blob {
  return blob(mediaType, Buffer.from(JSON.stringify(value)));
}

function descriptor({ mediaType, digest, size }: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType, digest, size };
}

export function formatOciLayout(spec: ImageSpec): Buffer {
  const layerTar = formatTar(spec.files);
  // gzip level and header are fixed by zlib (mtime 0), so the compressed digest is stable too.
  const layer = blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(layerTar, { level: 6 }));
  const config = jsonBlob('application/vnd.oci.image.config.v1+json', {
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Entrypoint: spec.entrypoint,
      Cmd: spec.cmd,
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
  });
  const manifest = jsonBlob('application/vnd.oci.image.manifest.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor(config),
    layers: [descriptor(layer)],
  });
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        ...descriptor(manifest),
        annotations: {
          'io.containerd.image.name': spec.reference,
          'org.opencontainers.image.ref.name': spec.reference.slice(spec.reference.lastIndexOf(':') + 1),
        },
      },
    ],
  };
  const blobs = [layer, config, manifest];
  return formatTar([
    { kind: 'file', path: 'oci-layout', mode: 0o644, data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { kind: 'file', path: 'index.json', mode: 0o644, data: Buffer.from(JSON.stringify(index)) },
    { kind: 'dir', path: 'blobs', mode: 0o755 },
    { kind: 'dir', path: 'blobs/sha256', mode: 0o755 },
    ...blobs.map((item): TarEntry => ({
      kind: 'file',
      path: `blobs/sha256/${item.digest.slice('sha256:'.length)}`,
      mode: 0o644,
      data: item.data,
    })),
  ]);
}
