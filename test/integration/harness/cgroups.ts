// Reading the real cgroup files of containers, and removing the pod cgroups a sandbox's pods
// left behind (containerd creates kubelet-style parents but never removes them).
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { killProcesses } from './processes.js';

const cgroupRoot = '/sys/fs/cgroup';
const kubepodsDirs = ['kubepods/burstable', 'kubepods/besteffort', 'kubepods'];

/** cgroup v2 alone, or v1 controllers (with or without the unified hierarchy beside them). */
function isUnifiedOnly(): boolean {
  return existsSync(join(cgroupRoot, 'cgroup.controllers'));
}

/** The root of every mounted hierarchy. */
function listHierarchies(): string[] {
  if (isUnifiedOnly()) return [cgroupRoot];
  return readdirSync(cgroupRoot, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(cgroupRoot, entry.name));
}

/** The directory of a cgroup path (as in the OCI spec, e.g. `/kubepods/pod<uid>/<id>`) for cpuset. */
export function cpusetCgroupDir(cgroupPath: string): string {
  return join(isUnifiedOnly() ? cgroupRoot : join(cgroupRoot, 'cpuset'), cgroupPath);
}

/** The `cpuset.cpus` and `cpuset.mems` a cgroup has right now, as cpulists. */
export function readCgroupCpuset(cgroupPath: string): { cpus: string; mems: string } {
  const dir = cpusetCgroupDir(cgroupPath);
  return {
    cpus: readFileSync(join(dir, 'cpuset.cpus'), 'utf8').trim(),
    mems: readFileSync(join(dir, 'cpuset.mems'), 'utf8').trim(),
  };
}

/** `Cpus_allowed_list` and `Mems_allowed_list` of a process from /proc/PID/status. */
export function readProcessAffinity(pid: number): { cpus: string; mems: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => {
    const match = new RegExp(`^${name}:\\s*(\\S*)`, 'mu').exec(status);
    if (match?.[1] === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return match[1];
  };
  return { cpus: field('Cpus_allowed_list'), mems: field('Mems_allowed_list') };
}

/** The kubelet-style parent directories that exist now, relative to a hierarchy root. */
export function findKubepodsDirs(): Set<string> {
  return new Set(
    listHierarchies().flatMap((hierarchy) =>
      kubepodsDirs.map((dir) => join(hierarchy, dir)).filter((dir) => existsSync(dir)),
    ),
  );
}

/** Every directory below `dir`, deepest first, then `dir` itself. */
function listTreeDeepestFirst(dir: string): string[] {
  const children = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => listTreeDeepestFirst(join(dir, entry.name)));
  return [...children, dir];
}

function readPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** The pod cgroup directories, in every hierarchy, of pods whose uid starts with `uidPrefix`. */
export function findPodCgroups(uidPrefix: string): string[] {
  return listHierarchies().flatMap((hierarchy) =>
    kubepodsDirs
      .map((dir) => join(hierarchy, dir))
      .filter((dir) => existsSync(dir) && statSync(dir).isDirectory())
      .flatMap((dir) =>
        readdirSync(dir)
          .filter((name) => name.startsWith(`pod${uidPrefix}`))
          .map((name) => join(dir, name)),
      ),
  );
}

/**
 * Kills whatever still runs in the pod cgroups whose uid starts with `uidPrefix`, removes them,
 * then removes the kubepods parents that were not there before (`kubepodsBefore`) once empty.
 */
export async function removePodCgroups(uidPrefix: string, kubepodsBefore: ReadonlySet<string>): Promise<void> {
  const trees = findPodCgroups(uidPrefix).map(listTreeDeepestFirst);
  await killProcesses([...new Set(trees.flat().flatMap(readPids))]);
  for (const dir of trees.flat()) rmdirSync(dir);
  for (const dir of findKubepodsDirs()) {
    if (kubepodsBefore.has(dir)) continue;
    try {
      rmdirSync(dir);
    } catch {
      // Still used by another sandbox's pods (or a child not yet removed): theirs to remove.
    }
  }
}
