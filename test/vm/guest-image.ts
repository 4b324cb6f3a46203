// Builds what the test guest boots, once per kernel package version, in a cache folder outside
// git: Debian's kernel (the package linux-image-amd64 depends on) as an uncompressed ELF (the
// bzImage's xz payload costs 5–10 s to unpack under TCG), and a busybox initramfs holding the
// init script and the virtio-9p modules, which mounts the host's /usr and /etc and chroots.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const defaultCacheDir = process.env.CRI_REBALANCER_VM_CACHE ?? '/var/tmp/cri-rebalancer-vm';

/** Modules the init script loads; their dependencies are added from each module's modinfo. */
const wantedModules = ['virtio_pci', '9pnet_virtio', '9p'];

export interface GuestImage {
  readonly kernelPackage: string;
  readonly kernelElf: string;
  readonly initramfs: string;
}

export type GuestImageResult = { readonly image: GuestImage } | { readonly skip: string };

function run(command: string, args: string[], cwd?: string): string | null {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return result.status === 0 ? result.stdout : null;
}

/** "linux-image-6.1.0-56-amd64_6.1.192-2": the real package behind the metapackage, with its version. */
function resolveKernelPackage(): string | null {
  const depends = run('apt-cache', ['depends', 'linux-image-amd64']);
  const name = depends === null ? undefined : /Depends: (linux-image-\S+)/u.exec(depends)?.[1];
  if (name === undefined) return null;
  const policy = run('apt-cache', ['policy', name]);
  const version = policy === null ? undefined : /Candidate: (\S+)/u.exec(policy)?.[1];
  return version === undefined || version === '(none)' ? null : `${name}_${version}`;
}

/** The newest kernel already unpacked in the cache, for machines without a package registry. */
function newestCachedKernel(cacheDir: string): string | null {
  if (!existsSync(cacheDir)) return null;
  const cached = readdirSync(cacheDir).filter((entry) => existsSync(join(cacheDir, entry, 'vmlinux')));
  return cached.sort().at(-1) ?? null;
}

/** The ELF kernel inside a bzImage: the xz stream that starts at the first xz magic. */
function extractVmlinux(bzImage: string, target: string): void {
  const bytes = readFileSync(bzImage);
  const offset = bytes.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (offset < 0) throw new Error(`${bzImage} holds no xz payload: cannot extract the kernel ELF`);
  const elf = execFileSync('xz', ['-dc', '--single-stream'], { input: bytes.subarray(offset), maxBuffer: 512 << 20 });
  if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new Error(`${bzImage}: the xz payload is not an ELF kernel`);
  writeFileSync(target, elf);
}

/** Downloads and unpacks the kernel package into cacheDir/<package>_<version>/. */
function unpackKernel(kernelDir: string, packageName: string): void {
  const work = mkdtempSync(join(kernelDir, '..', '.unpack-'));
  try {
    if (run('apt-get', ['download', '-q', packageName], work) === null) {
      throw new Error(`apt-get download ${packageName} failed: check the Debian registry is reachable`);
    }
    const deb = readdirSync(work).find((file) => file.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${packageName} left no .deb`);
    execFileSync('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
    const bootDir = join(work, 'root', 'boot');
    const bzImage = readdirSync(bootDir).find((file) => file.startsWith('vmlinuz-'));
    if (bzImage === undefined) throw new Error(`${deb} holds no /boot/vmlinuz-*`);
    const staging = join(work, 'kernel');
    mkdirSync(staging);
    extractVmlinux(join(bootDir, bzImage), join(staging, 'vmlinux'));
    const modules = ['lib', 'usr/lib'].map((dir) => join(work, 'root', dir, 'modules')).find((dir) => existsSync(dir));
    if (modules === undefined) throw new Error(`${deb} holds no /lib/modules`);
    renameSync(modules, join(staging, 'modules'));
    try {
      renameSync(staging, kernelDir);
    } catch (error) {
      // Another run unpacked the same kernel first: theirs is as good.
      if (!existsSync(join(kernelDir, 'vmlinux'))) throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Module name → path of its .ko, for every module the package ships. */
function indexModules(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const file of readdirSync(modulesDir, { recursive: true })) {
    const path = String(file);
    if (path.endsWith('.ko')) index.set(basename(path, '.ko').replaceAll('-', '_'), join(modulesDir, path));
  }
  return index;
}

/** The `depends=` field of a module's .modinfo section (no modinfo binary needed). */
function readModuleDepends(koPath: string): string[] {
  const match = /depends=([^\0]*)\0/u.exec(readFileSync(koPath).toString('latin1'));
  return match?.[1] ? match[1].split(',').map((name) => name.replaceAll('-', '_')) : [];
}

/** The wanted modules and their dependencies, dependencies first (the order insmod needs). */
export function orderModules(wanted: readonly string[], dependsOf: (name: string) => readonly string[]): string[] {
  const ordered: string[] = [];
  const visit = (name: string): void => {
    if (ordered.includes(name)) return;
    for (const dependency of dependsOf(name)) visit(dependency);
    ordered.push(name);
  };
  wanted.forEach(visit);
  return ordered;
}

function buildInitramfs(modulesDir: string, initScript: string, target: string): void {
  const index = indexModules(modulesDir);
  const pathOf = (name: string): string => {
    const path = index.get(name);
    if (path === undefined) throw new Error(`kernel module ${name} is not in ${modulesDir}`);
    return path;
  };
  const modules = orderModules(wantedModules, (name) => readModuleDepends(pathOf(name)));
  const staging = mkdtempSync(`${target}.staging-`);
  try {
    const root = join(staging, 'root');
    for (const dir of ['bin', 'lib/modules', 'proc', 'sys', 'dev', 'newroot']) mkdirSync(join(root, dir), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const name of modules) copyFileSync(pathOf(name), join(root, 'lib', 'modules', `${name}.ko`));
    writeFileSync(join(root, 'lib', 'modules', 'load-order'), `${modules.join('\n')}\n`);
    writeFileSync(join(root, 'init'), initScript, { mode: 0o755 });
    execFileSync('sh', ['-c', `find . -print0 | cpio --null -o -H newc --quiet > ../initramfs.cpio`], { cwd: join(staging, 'root') });
    renameSync(join(staging, 'initramfs.cpio'), target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** What the image needs from the host, or why the VM suite must skip. */
export function findMissingHostTools(): string | null {
  for (const [tool, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cpio', 'cpio'],
    ['xz', 'xz-utils'],
  ] as const) {
    if (run('sh', ['-c', `command -v ${tool}`]) === null) return `${tool} is missing: install the Debian package ${pkg}`;
  }
  if (!existsSync('/bin/busybox') || run('/bin/busybox', ['true']) === null) return '/bin/busybox is missing: install busybox-static';
  return null;
}

/**
 * The kernel ELF and initramfs for this init script, built on first use and reused: the kernel
 * is keyed by package and version, the initramfs by the hash of the init script.
 */
export function prepareGuestImage(initScriptPath: string, cacheDir = defaultCacheDir): GuestImageResult {
  const missing = findMissingHostTools();
  if (missing !== null) return { skip: missing };
  mkdirSync(cacheDir, { recursive: true });
  const resolved = resolveKernelPackage();
  const kernelPackage = resolved ?? newestCachedKernel(cacheDir);
  if (kernelPackage === null) {
    return { skip: 'no kernel: apt-cache cannot resolve linux-image-amd64 and none is cached; run apt-get update with the Debian registry reachable' };
  }
  const kernelDir = join(cacheDir, kernelPackage);
  if (!existsSync(join(kernelDir, 'vmlinux'))) {
    try {
      unpackKernel(kernelDir, kernelPackage.split('_')[0] ?? kernelPackage);
    } catch (error) {
      return { skip: `cannot fetch the guest kernel: ${(error as Error).message}` };
    }
  }
  const initScript = readFileSync(initScriptPath, 'utf8');
  const hash = createHash('sha256').update(initScript).update(wantedModules.join(',')).digest('hex').slice(0, 12);
  const initramfs = join(kernelDir, `initramfs-${hash}.cpio`);
  if (!existsSync(initramfs)) buildInitramfs(join(kernelDir, 'modules'), initScript, initramfs);
  return { image: { kernelPackage, kernelElf: join(kernelDir, 'vmlinux'), initramfs } };
}
