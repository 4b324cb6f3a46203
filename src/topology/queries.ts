// Cheap questions about a Topology. A Topology never changes, so what the queries need is
// computed once per topology and kept in a WeakMap beside it.
import { CpuSet } from './cpuset.js';
import type { Cache, NumaNode, Topology } from './types.js';

/** The distance the kernel uses for a node to itself, and to other nodes when the table is missing. */
export const localDistance = 10;
export const remoteDistance = 20;

interface Index {
  readonly nodeById: ReadonlyMap<number, NumaNode>;
  /** One entry per physical core: its online threads, ordered by first CPU. */
  readonly cores: readonly CpuSet[];
  readonly coreOfCpu: ReadonlyMap<number, CpuSet>;
  readonly cacheByKey: ReadonlyMap<string, Cache>;
  readonly cpusOfPackage: ReadonlyMap<number, CpuSet>;
  /** Key `package/die`. */
  readonly cpusOfDie: ReadonlyMap<string, CpuSet>;
}

const indexes = new WeakMap<Topology, Index>();

function indexOf(topology: Topology): Index {
  let index = indexes.get(topology);
  if (index === undefined) {
    index = buildIndex(topology);
    indexes.set(topology, index);
  }
  return index;
}

function buildIndex(topology: Topology): Index {
  const coreOfCpu = new Map<number, CpuSet>();
  const cores: CpuSet[] = [];
  const packageCpus = new Map<number, number[]>();
  const dieCpus = new Map<string, number[]>();
  for (const cpu of topology.cpus.values()) {
    if (!coreOfCpu.has(cpu.id)) {
      cores.push(cpu.threadSiblings);
      for (const sibling of cpu.threadSiblings) coreOfCpu.set(sibling, cpu.threadSiblings);
    }
    push(packageCpus, cpu.packageId, cpu.id);
    push(dieCpus, `${cpu.packageId}/${cpu.dieId}`, cpu.id);
  }
  cores.sort((a, b) => a.first()! - b.first()!);
  return {
    nodeById: new Map(topology.nodes.map((node) => [node.id, node])),
    cores,
    coreOfCpu,
    cacheByKey: new Map(topology.caches.map((cache) => [cache.key, cache])),
    cpusOfPackage: toCpuSets(packageCpus),
    cpusOfDie: toCpuSets(dieCpus),
  };
}

function push<K>(map: Map<K, number[]>, key: K, id: number): void {
  const ids = map.get(key);
  if (ids === undefined) map.set(key, [id]);
  else ids.push(id);
}

function toCpuSets<K>(map: Map<K, number[]>): Map<K, CpuSet> {
  return new Map([...map].map(([key, ids]) => [key, CpuSet.of(ids)]));
}

/** The NUMA node of an online CPU, or undefined for a CPU that is not online. */
export function nodeOfCpu(topology: Topology, cpu: number): number | undefined {
  return topology.cpus.get(cpu)?.nodeId;
}

export function nodeById(topology: Topology, id: number): NumaNode | undefined {
  return indexOf(topology).nodeById.get(id);
}

/** The kernel's distance from node a to node b; 10 to itself and 20 to others where it gives none. */
export function distance(topology: Topology, a: number, b: number): number {
  const listed = indexOf(topology).nodeById.get(a)?.distances?.get(b);
  if (listed !== undefined) return listed;
  return a === b ? localDistance : remoteDistance;
}

/** The nodes that hold any of these CPUs. */
export function nodesOfCpus(topology: Topology, cpus: Iterable<number>): CpuSet {
  const nodes: number[] = [];
  for (const cpu of cpus) {
    const node = nodeOfCpu(topology, cpu);
    if (node !== undefined) nodes.push(node);
  }
  return CpuSet.of(nodes);
}

/** The online CPUs of these nodes (memory-only nodes add none). */
export function cpusOfNodes(topology: Topology, nodes: Iterable<number>): CpuSet {
  const byId = indexOf(topology).nodeById;
  let cpus = CpuSet.empty;
  for (const node of nodes) cpus = cpus.union(byId.get(node)?.cpus ?? CpuSet.empty);
  return cpus;
}

/** Every physical core of the machine as the set of its online threads, by first CPU. */
export function allCores(topology: Topology): readonly CpuSet[] {
  return indexOf(topology).cores;
}

/**
 * The physical cores these CPUs touch, each as the part of its threads within `cpus`, ordered by
 * first CPU. CPUs that are not online are left out.
 */
export function coresOf(topology: Topology, cpus: CpuSet): CpuSet[] {
  const coreOfCpu = indexOf(topology).coreOfCpu;
  const seen = new Set<CpuSet>();
  const cores: CpuSet[] = [];
  for (const cpu of cpus) {
    const core = coreOfCpu.get(cpu);
    if (core === undefined || seen.has(core)) continue;
    seen.add(core);
    cores.push(core.intersect(cpus));
  }
  return cores;
}

/** The cores all of whose online threads are in `cpus`. */
export function wholeCoresOf(topology: Topology, cpus: CpuSet): CpuSet[] {
  return coresOf(topology, cpus).filter((part) => part.equals(indexOf(topology).coreOfCpu.get(part.first()!)!));
}

/** The most threads any core has (1 without SMT). */
export function threadsPerCore(topology: Topology): number {
  return Math.max(0, ...indexOf(topology).cores.map((core) => core.size));
}

/** All node ids ordered by distance from `node` (itself first), ties by id. */
export function nodesByDistanceFrom(topology: Topology, node: number): number[] {
  return topology.nodes
    .map((other) => other.id)
    .sort(
      (a, b) =>
        Number(b === node) - Number(a === node) ||
        distance(topology, node, a) - distance(topology, node, b) ||
        a - b,
    );
}

/** The cache instance of a level (2 or 3) that a CPU uses, when known. */
export function cacheOfCpu(topology: Topology, cpu: number, level: 2 | 3): Cache | undefined {
  const entry = topology.cpus.get(cpu);
  const key = level === 2 ? entry?.l2 : entry?.l3;
  return key === undefined ? undefined : indexOf(topology).cacheByKey.get(key);
}

/** The CPUs sharing that cache with `cpu` (itself included); just `cpu` when unknown. */
export function cpusSharingCache(topology: Topology, cpu: number, level: 2 | 3): CpuSet {
  return cacheOfCpu(topology, cpu, level)?.cpus ?? (topology.cpus.has(cpu) ? CpuSet.of([cpu]) : CpuSet.empty);
}

/** The instances of one cache level, ordered by first CPU. */
export function cachesAtLevel(topology: Topology, level: 2 | 3): Cache[] {
  return topology.caches.filter((cache) => cache.level === level);
}

export function cpusOfPackage(topology: Topology, packageId: number): CpuSet {
  return indexOf(topology).cpusOfPackage.get(packageId) ?? CpuSet.empty;
}

/** Each die as `{packageId, dieId, cpus}`, by package then die (die -1 where none is reported). */
export function dies(topology: Topology): { packageId: number; dieId: number; cpus: CpuSet }[] {
  return [...indexOf(topology).cpusOfDie]
    .map(([key, cpus]) => {
      const [packageId, dieId] = key.split('/').map(Number) as [number, number];
      return { packageId, dieId, cpus };
    })
    .sort((a, b) => a.packageId - b.packageId || a.dieId - b.dieId);
}

/** Nodes with memory and no CPUs (PMEM, CXL, HBM, GPU memory). */
export function memoryOnlyNodes(topology: Topology): CpuSet {
  return CpuSet.of(topology.nodes.filter((node) => node.memoryOnly).map((node) => node.id));
}
