// NUMA nodes from `<sysfs>/devices/system/node`: CPUs, distances, memory size, and which nodes
// hold memory but no CPUs. A kernel without NUMA support has no node directory: then the
// machine is one node 0 holding every online CPU.
import { join } from 'node:path';
import { CpuSet } from './cpuset.js';
import { listNumbered, readCpuSet, readOptional, TopologyError } from './sysfs.js';
import type { NumaNode } from './types.js';

export function discoverNodes(nodeDir: string, online: CpuSet): NumaNode[] {
  const dirIds = listNumbered(nodeDir, 'node');
  if (dirIds.length === 0) {
    return [{ id: 0, cpus: online, memoryBytes: null, distances: null, memoryOnly: false }];
  }
  const listedOnline = readCpuSet(nodeDir, 'online');
  const ids = listedOnline === null || listedOnline.isEmpty() ? dirIds : dirIds.filter((id) => listedOnline.has(id));
  // The kernel prints one distance per online node, in ascending node id order.
  const distanceOrder = listedOnline === null || listedOnline.isEmpty() ? ids : listedOnline.toArray();
  const hasMemory = readCpuSet(nodeDir, 'has_memory');

  return ids.map((id) => {
    const dir = join(nodeDir, `node${id}`);
    const allCpus = readCpuSet(dir, 'cpulist', 'cpumap');
    if (allCpus === null) {
      throw new TopologyError(`${join(dir, 'cpulist')} is missing (needed for the CPUs of NUMA node ${id})`, dir);
    }
    const memoryBytes = parseMemTotalBytes(readOptional(join(dir, 'meminfo')));
    const hasAnyMemory = memoryBytes === null ? (hasMemory?.has(id) ?? true) : memoryBytes > 0;
    return {
      id,
      cpus: allCpus.intersect(online),
      memoryBytes,
      distances: parseDistances(readOptional(join(dir, 'distance')), distanceOrder),
      memoryOnly: allCpus.isEmpty() && hasAnyMemory,
    };
  });
}

/** `Node 0 MemTotal:  32404120 kB` → bytes; null when the file or the line is absent. */
export function parseMemTotalBytes(meminfo: string | null): number | null {
  if (meminfo === null) return null;
  const match = /MemTotal:\s*(\d+)\s*kB/u.exec(meminfo);
  return match === null ? null : Number(match[1]) * 1024;
}

/** One row of the distance table, mapped to node ids; null when absent or not one per node. */
export function parseDistances(text: string | null, nodeIds: readonly number[]): ReadonlyMap<number, number> | null {
  if (text === null || text === '') return null;
  const values = text.split(/\s+/u).map(Number);
  if (values.length !== nodeIds.length || values.some((value) => !Number.isInteger(value) || value < 0)) return null;
  return new Map(nodeIds.map((id, index) => [id, values[index]!]));
}
