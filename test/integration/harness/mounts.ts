// Mounts containerd left under the sandbox's directory (container rootfs overlays, sandbox shm)
// once its processes are gone.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** mountinfo escapes space, tab, newline and backslash as octal. */
function parseMountPoint(field: string): string {
  return field.replace(/\\([0-7]{3})/gu, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export async function listMountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map(parseMountPoint)
    .filter((point) => point.startsWith(`${dir}/`));
}

/** Deepest first; a busy mount is detached lazily rather than left behind. */
export async function unmountAllUnder(dir: string): Promise<void> {
  const points = (await listMountsUnder(dir)).sort((a, b) => b.length - a.length);
  for (const point of points) {
    try {
      await run('umount', [point]);
    } catch {
      await run('umount', ['--lazy', point]);
    }
  }
}
