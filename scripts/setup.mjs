// Installs what the project needs on a fresh Debian 12 machine with Node 20: Debian packages
// (when run as root), npm packages, the TypeScript build and the native addon (npm install runs
// both). Uses only Node's own modules, so it runs before anything is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages by purpose; `npm test` needs them all, the unit suite none. */
export const debianPackages = {
  native: ['libbpf-dev', 'clang', 'bpftool', 'pkg-config'],
  runtime: ['containerd', 'runc', 'busybox-static', 'gcc', 'libc6-dev'],
  vm: ['qemu-system-x86', 'busybox-static', 'cpio', 'xz-utils'],
};

function missingDebianPackages(names) {
  return names.filter((name) => {
    const probe = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return !probe.stdout.includes('install ok installed');
  });
}

export function installDebianPackages(groups) {
  const wanted = [...new Set(groups.flatMap((group) => debianPackages[group]))];
  const missing = missingDebianPackages(wanted);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`setup: missing Debian packages (install them as root): ${missing.join(' ')}`);
    return;
  }
  console.error(`setup: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

/** npm install when node_modules is missing or older than package.json. */
export function installNpmPackages() {
  const modules = join(root, 'node_modules', '.package-lock.json');
  const fresh =
    existsSync(modules) && statSync(modules).mtimeMs >= statSync(join(root, 'package.json')).mtimeMs;
  if (fresh && existsSync(join(root, 'dist', 'cli.js'))) return;
  console.error('setup: npm install (packages, TypeScript build, native addon)');
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const groups = process.argv.slice(2);
  installDebianPackages(groups.length > 0 ? groups : Object.keys(debianPackages));
  installNpmPackages();
}
