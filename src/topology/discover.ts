// Reads the machine's topology from a sysfs root (default /sys; tests pass a fixture tree).
// Only what placement needs is required: the online CPUs and each one's package and core.
// Everything else (dies, clusters, caches, NUMA nodes, distances, memory) is optional, as real
// kernels and firmware leave any of it out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CpuSet } from './cpuset.js';
import { discoverCaches } from './discover-caches.js';
import { discoverNodes } from './discover-nodes.js';
import { listNumbered, readCpuSet, readInt, readOptional, readRequiredInt, TopologyError } from './sysfs.js';
import type { Cpu, Topology } from './types.js';

export { TopologyError } from './sysfs.js';

/** Discovers the topology under `sysfsRoot` (the directory holding `devices/system/cpu`). */
export async function discoverTopology(sysfsRoot = '/sys'): Promise<Topology> {
  return discoverTopologySync(sysfsRoot);
}

/** The same, synchronously: a few thousand small reads, milliseconds even on large machines. */
export function discoverTopologySync(sysfsRoot = '/sys'): Topology {
  const cpuDir = join(sysfsRoot, 'devices', 'system', 'cpu');
  const cpuDirIds = listNumbered(cpuDir, 'cpu');
  const online = discoverOnline(sysfsRoot, cpuDirIds);
  const present = readCpuSet(cpuDir, 'present') ?? online.union(CpuSet.of(cpuDirIds));
  const possible = readCpuSet(cpuDir, 'possible') ?? present;
  const isolated = readCpuSet(cpuDir, 'isolated') ?? CpuSet.empty;

  const places = discoverCpuPlaces(cpuDir, online);
  const siblings = threadSiblingsOf(places, online);
  const nodes = discoverNodes(join(sysfsRoot, 'devices', 'system', 'node'), online);
  const nodeOfCpu = new Map<number, number>();
  for (const node of nodes) for (const cpu of node.cpus) nodeOfCpu.set(cpu, node.id);
  const { caches, cacheKeysOfCpu } = discoverCaches(cpuDir, online);

  const cpus = new Map<number, Cpu>();
  for (const place of places) {
    const nodeId = nodeOfCpu.get(place.id);
    if (nodeId === undefined) {
      const nodeDir = join(sysfsRoot, 'devices', 'system', 'node');
      throw new TopologyError(
        `cpu ${place.id} is online but no ${nodeDir}/node*/cpulist names it; the sysfs tree is inconsistent`,
        nodeDir,
      );
    }
    const keys = cacheKeysOfCpu.get(place.id);
    cpus.set(place.id, {
      id: place.id,
      packageId: place.packageId,
      dieId: place.dieId,
      clusterId: place.clusterId,
      coreId: place.coreId,
      nodeId,
      threadSiblings: siblings.get(place.id)!,
      ...(keys?.l2 === undefined ? {} : { l2: keys.l2 }),
      ...(keys?.l3 === undefined ? {} : { l3: keys.l3 }),
    });
  }

  return {
    cpus,
    online,
    offline: present.difference(online),
    absent: possible.difference(present),
    isolated,
    nodes,
    caches,
    packages: [...new Set(places.map((place) => place.packageId))].sort((a, b) => a - b),
  };
}

/** `cpu/online`, or where it was not captured, the cpuN directories not marked offline. */
function discoverOnline(sysfsRoot: string, cpuDirIds: readonly number[]): CpuSet {
  const cpuDir = join(sysfsRoot, 'devices', 'system', 'cpu');
  const listed = readCpuSet(cpuDir, 'online');
  if (listed !== null && !listed.isEmpty()) return listed;
  const derived = cpuDirIds.filter((id) => readOptional(join(cpuDir, `cpu${id}`, 'online')) !== '0');
  if (derived.length === 0) {
    const path = join(cpuDir, 'online');
    // A dump unpacked as NAME/sys/devices/... is often passed as NAME.
    const nested = join(sysfsRoot, 'sys');
    const hint = existsSync(join(nested, 'devices', 'system', 'cpu')) ? `; ${nested} looks like one` : '';
    throw new TopologyError(
      `${path} is ${listed === null ? 'missing' : 'empty'} and ${cpuDir} has no online cpuN directory; ` +
        `pass the sysfs root (the directory holding devices/system/cpu, usually /sys)${hint}`,
      path,
    );
  }
  return CpuSet.of(derived);
}

interface CpuPlace {
  readonly id: number;
  readonly packageId: number;
  readonly dieId: number;
  readonly clusterId: number;
  readonly coreId: number;
  /** The kernel's sibling list, when it has one. */
  readonly listedSiblings: CpuSet | null;
}

/**
 * The place of every online CPU. Thread siblings share one core, so a core's other threads take
 * the first thread's place instead of reading it again (half the reads on SMT machines).
 */
function discoverCpuPlaces(cpuDir: string, online: CpuSet): CpuPlace[] {
  const byCpu = new Map<number, CpuPlace>();
  for (const id of online) {
    if (byCpu.has(id)) continue;
    const place = discoverCpuPlace(cpuDir, id);
    byCpu.set(id, place);
    if (place.listedSiblings === null || !place.listedSiblings.has(id)) continue;
    for (const sibling of place.listedSiblings.intersect(online)) {
      if (!byCpu.has(sibling)) byCpu.set(sibling, { ...place, id: sibling });
    }
  }
  return online.toArray().map((id) => byCpu.get(id)!);
}

function discoverCpuPlace(cpuDir: string, id: number): CpuPlace {
  const dir = join(cpuDir, `cpu${id}`, 'topology');
  return {
    id,
    packageId: readRequiredInt(join(dir, 'physical_package_id'), `the socket of online cpu ${id}`),
    dieId: readInt(join(dir, 'die_id')) ?? -1,
    clusterId: readInt(join(dir, 'cluster_id')) ?? -1,
    coreId: readRequiredInt(join(dir, 'core_id'), `the core of online cpu ${id}`),
    listedSiblings:
      readCpuSet(dir, 'thread_siblings_list', 'thread_siblings') ?? readCpuSet(dir, 'core_cpus_list', 'core_cpus'),
  };
}

/**
 * Each CPU's online thread siblings: the kernel's list where it has one, else the online CPUs
 * with the same package, die, cluster and core id.
 */
function threadSiblingsOf(places: readonly CpuPlace[], online: CpuSet): Map<number, CpuSet> {
  const coreKey = (place: CpuPlace) => `${place.packageId}/${place.dieId}/${place.clusterId}/${place.coreId}`;
  const byCore = new Map<string, number[]>();
  for (const place of places) {
    const key = coreKey(place);
    const ids = byCore.get(key) ?? [];
    ids.push(place.id);
    byCore.set(key, ids);
  }
  const siblings = new Map<number, CpuSet>();
  for (const place of places) {
    const listed = place.listedSiblings?.intersect(online);
    siblings.set(
      place.id,
      listed === undefined || !listed.has(place.id) ? CpuSet.of(byCore.get(coreKey(place))!) : listed,
    );
  }
  return siblings;
}
