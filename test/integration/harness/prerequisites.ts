// Why the real-containerd tests cannot run on this machine, or null when they can: they skip
// with this reason rather than pass without testing anything.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { findImagePrerequisites } from '../images/test-images.js';

const run = promisify(execFile);

const binaries = [
  { name: 'containerd', fix: 'install the Debian package containerd' },
  { name: 'ctr', fix: 'install the Debian package containerd' },
  { name: 'containerd-shim-runc-v2', fix: 'install the Debian package containerd' },
  { name: 'umount', fix: 'install the Debian package mount' },
];

async function isOnPath(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

export async function findContainerdPrerequisites(repoRoot: string): Promise<string | null> {
  if (process.platform !== 'linux') return 'containerd tests need Linux';
  if (process.getuid?.() !== 0) return 'containerd tests need root (run the integration suite as root)';
  for (const { name, fix } of binaries) {
    if (!(await isOnPath(name))) return `${name} is missing: ${fix}`;
  }
  if (!existsSync('/usr/sbin/runc')) return '/usr/sbin/runc is missing: install the Debian package runc';
  if (!existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return 'no cpuset cgroup controller is mounted under /sys/fs/cgroup';
  }
  return findImagePrerequisites(repoRoot);
}
