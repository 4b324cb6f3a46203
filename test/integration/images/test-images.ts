// The two images the integration tests and the demo run, built here from the machine's own
// static busybox and a pause program compiled at test time (nothing is pulled), then imported
// into a containerd with `ctr images import`.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatOciLayout } from './oci-layout.js';
import type { TarEntry } from './tar.js';

const run = promisify(execFile);

export const busyboxImage = 'localhost/cri-rebalancer/busybox:test';
export const pauseImage = 'localhost/cri-rebalancer/pause:test';

const busyboxPath = '/bin/busybox';
const pauseSource = 'test/integration/images/pause.c';
/** C compilers that can build the static pause binary, in order of preference. */
const compilers = ['gcc', 'clang'];

/** True when the ELF file has no program interpreter (it needs no libc in the image). */
function isStaticElf(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const headersOffset = Number(bytes.readBigUInt64LE(0x20));
  const headerBytes = bytes.readUInt16LE(0x36);
  const headerCount = bytes.readUInt16LE(0x38);
  for (let index = 0; index < headerCount; index += 1) {
    if (bytes.readUInt32LE(headersOffset + index * headerBytes) === 3) return false;
  }
  return true;
}

/** Why the images cannot be built here, or null when they can. */
export async function findImagePrerequisites(repoRoot: string): Promise<string | null> {
  if (!existsSync(busyboxPath) || !isStaticElf(readFileSync(busyboxPath))) {
    return `${busyboxPath} is missing or not static: install the Debian package busybox-static`;
  }
  if (!existsSync(join(repoRoot, pauseSource))) return `${pauseSource} is missing from the checkout`;
  if ((await findCompiler()) === null) return 'no C compiler: install the Debian packages gcc (or clang) and libc6-dev';
  return null;
}

/** The first compiler on PATH with its version text, or null. */
async function findCompiler(): Promise<{ name: string; version: string } | null> {
  for (const name of compilers) {
    try {
      return { name, version: (await run(name, ['--version'])).stdout };
    } catch {
      // Not installed: try the next.
    }
  }
  return null;
}

/** The static pause binary, compiled once per source and compiler version into the cache. */
async function buildPause(repoRoot: string, cacheDir: string): Promise<Buffer> {
  const source = await readFile(join(repoRoot, pauseSource));
  const compiler = await findCompiler();
  if (compiler === null) throw new Error('no C compiler: install the Debian packages gcc (or clang) and libc6-dev');
  const key = createHash('sha256').update(source).update(compiler.version).digest('hex').slice(0, 16);
  const binary = join(cacheDir, `pause-${key}`);
  if (!existsSync(binary)) {
    await mkdir(cacheDir, { recursive: true });
    const temporary = `${binary}.${process.pid}.tmp`;
    await run(compiler.name, ['-static', '-Os', '-s', '-o', temporary, join(repoRoot, pauseSource)]);
    await rename(temporary, binary);
  }
  return readFile(binary);
}

const baseDirectories: readonly TarEntry[] = ['dev', 'etc', 'proc', 'sys', 'root'].map((path) => ({
  kind: 'dir',
  path,
  mode: 0o755,
}));

async function formatBusyboxImage(): Promise<Buffer> {
  const { stdout } = await run(busyboxPath, ['--list-full']);
  const applets = stdout.split('\n').filter((line) => line !== '' && line !== 'bin/busybox');
  return formatOciLayout({
    reference: busyboxImage,
    entrypoint: [],
    cmd: ['/bin/sh'],
    files: [
      ...baseDirectories,
      { kind: 'dir', path: 'tmp', mode: 0o1777 },
      ...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin'].map((path): TarEntry => ({ kind: 'dir', path, mode: 0o755 })),
      { kind: 'file', path: 'bin/busybox', mode: 0o755, data: await readFile(busyboxPath) },
      ...applets.map((path): TarEntry => ({ kind: 'symlink', path, target: '/bin/busybox' })),
      { kind: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
      { kind: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from('root:x:0:\n') },
    ],
  });
}

async function formatPauseImage(repoRoot: string, cacheDir: string): Promise<Buffer> {
  return formatOciLayout({
    reference: pauseImage,
    entrypoint: ['/pause'],
    cmd: [],
    files: [...baseDirectories, { kind: 'file', path: 'pause', mode: 0o755, data: await buildPause(repoRoot, cacheDir) }],
  });
}

/** Writes both image tarballs into `outputDir`; returns their paths. */
export async function writeTestImages(repoRoot: string, cacheDir: string, outputDir: string): Promise<string[]> {
  const images = [
    { file: join(outputDir, 'busybox.oci.tar'), bytes: await formatBusyboxImage() },
    { file: join(outputDir, 'pause.oci.tar'), bytes: await formatPauseImage(repoRoot, cacheDir) },
  ];
  await Promise.all(images.map(({ file, bytes }) => writeFile(file, bytes)));
  return images.map(({ file }) => file);
}

/** Imports image tarballs into the containerd at `socket`, in the namespace CRI uses. */
export async function importImages(socket: string, tarballs: readonly string[]): Promise<void> {
  for (const tarball of tarballs) {
    await run('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', tarball]);
  }
}
