// Reading the real cgroup files of containers, and removing the cgroups a sandbox's pods left
// behind (containerd creates kubelet-style parents but never removes them: kubelet owns them).
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { killProcesses } from './processes.js';

const cgroupRoot = '/sys/fs/cgroup';

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

/** The directories of a cgroup tree (e.g. a sandbox's cgroup root) in every hierarchy that has it. */
export function findCgroupTrees(cgroupPath: string): string[] {
  return listHierarchies()
    .map((hierarchy) => join(hierarchy, cgroupPath))
    .filter((dir) => existsSync(dir));
}

/** Kills whatever still runs in a cgroup tree, then removes the tree from every hierarchy. */
export async function removeCgroupTree(cgroupPath: string): Promise<void> {
  const dirs = findCgroupTrees(cgroupPath).flatMap(listTreeDeepestFirst);
  await killProcesses([...new Set(dirs.flatMap(readPids))]);
  for (const dir of dirs) rmdirSync(dir);
}
