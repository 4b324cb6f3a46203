// What the engine precomputes once per (topology, policy): dense per-CPU and per-node tables,
// the physical cores with their cache groups, the reserved and isolated sets, the distance
// matrix. Decisions then cost array lookups instead of map walks over the topology.
import type { Policy } from '../config/types.js';
import { CpuSet } from '../topology/cpuset.js';
import { distance as distanceBetween } from '../topology/queries.js';
import type { Topology } from '../topology/types.js';
import { memoized } from './memo.js';
import { takeReservedCpus } from './reserved.js';

/** A physical core: its online CPUs and the cache instances they use. */
export interface CoreInfo {
  readonly cpus: readonly number[];
  /** L3 instance key, or the node when the topology gives no L3. */
  readonly l3: string;
  /** L2 instance key, or the core itself when the topology gives no L2. */
  readonly l2: string;
}

export interface NodeInfo {
  readonly id: number;
  /** Dense index of this node in every per-node array of the context. */
  readonly index: number;
  /** Online CPUs of the node, ascending. */
  readonly cpus: readonly number[];
  /** Cores whose first CPU lies on this node, ordered by first CPU. */
  readonly cores: readonly CoreInfo[];
  readonly memoryBytes: number | null;
  readonly memoryOnly: boolean;
  /** `package:die` of the node's first CPU; null for nodes without CPUs. */
  readonly die: string | null;
  readonly packageId: number | null;
}

export interface PlacementContext {
  readonly topology: Topology;
  readonly policy: Policy;
  /** Length of every per-CPU array: the highest online CPU id + 1. */
  readonly cpuSlots: number;
  /** Node index of each CPU (-1 for ids that are not online). */
  readonly nodeIndexOfCpu: Int32Array;
  /** The core each online CPU belongs to. */
  readonly coreOfCpu: ReadonlyMap<number, CoreInfo>;
  /** All nodes (memory-only included), by ascending id. */
  readonly nodes: readonly NodeInfo[];
  readonly nodeIndexById: ReadonlyMap<number, number>;
  /** NUMA distance between node indexes: distance[a * nodes.length + b]. */
  readonly distance: Int32Array;
  /** Node indexes grouped by die and by socket (only groups of more than one node). */
  readonly dieGroups: readonly (readonly number[])[];
  readonly socketGroups: readonly (readonly number[])[];
  readonly reserved: CpuSet;
  /** Online isolated CPUs that are not reserved. */
  readonly isolated: CpuSet;
  /** Online CPUs neither reserved nor isolated: what exclusive and shared allocations share. */
  readonly allocatable: CpuSet;
  /** 1 where a CPU id is in `allocatable`, resp. `isolated`. */
  readonly allocatableMask: Uint8Array;
  readonly isolatedMask: Uint8Array;
  /** Per node: its allocatable CPUs as a set (the node's shared CPUs when nothing is exclusive). */
  readonly allocatableByNode: readonly CpuSet[];
  /** The most threads any core has. */
  readonly threadsPerCore: number;
}

const contexts = new WeakMap<Topology, WeakMap<Policy, PlacementContext>>();

/** The context of a topology and policy, built on first use and kept while both live. */
export function placementContext(topology: Topology, policy: Policy): PlacementContext {
  const byPolicy = memoized(contexts, topology, () => new WeakMap<Policy, PlacementContext>());
  return memoized(byPolicy, policy, () => createPlacementContext(topology, policy));
}

export function createPlacementContext(topology: Topology, policy: Policy): PlacementContext {
  const cpuSlots = (topology.online.toArray().at(-1) ?? -1) + 1;
  const nodeIndexById = new Map(topology.nodes.map((node, index) => [node.id, index]));
  const nodeIndexOfCpu = new Int32Array(cpuSlots).fill(-1);
  for (const cpu of topology.cpus.values()) nodeIndexOfCpu[cpu.id] = nodeIndexById.get(cpu.nodeId) ?? -1;

  const coreOfCpu = new Map<number, CoreInfo>();
  const coresByNode = topology.nodes.map((): CoreInfo[] => []);
  for (const id of topology.online) {
    if (coreOfCpu.has(id)) continue;
    const cpu = topology.cpus.get(id)!;
    const cpus = cpu.threadSiblings.intersect(topology.online).toArray();
    const core: CoreInfo = {
      cpus: cpus.length === 0 ? [id] : cpus,
      l3: cpu.l3 ?? `node:${cpu.nodeId}`,
      l2: cpu.l2 ?? `core:${id}`,
    };
    for (const sibling of core.cpus) coreOfCpu.set(sibling, core);
    coresByNode[nodeIndexOfCpu[id]!]?.push(core);
  }

  const nodes: NodeInfo[] = topology.nodes.map((node, index) => {
    const first = topology.cpus.get(node.cpus.first() ?? -1);
    return {
      id: node.id,
      index,
      cpus: node.cpus.toArray(),
      cores: coresByNode[index]!,
      memoryBytes: node.memoryBytes,
      memoryOnly: node.memoryOnly,
      die: first === undefined ? null : `${first.packageId}:${first.dieId}`,
      packageId: first === undefined ? null : first.packageId,
    };
  });

  const distance = new Int32Array(nodes.length * nodes.length);
  for (const a of nodes) {
    for (const b of nodes) distance[a.index * nodes.length + b.index] = distanceBetween(topology, a.id, b.id);
  }

  const threadsPerCore = Math.max(1, ...[...coreOfCpu.values()].map((core) => core.cpus.length));
  const partial = { topology, policy, cpuSlots, nodeIndexOfCpu, coreOfCpu, nodes, nodeIndexById, distance, threadsPerCore };
  const reserved = takeReservedCpus(partial);
  const isolated = topology.isolated.intersect(topology.online).difference(reserved);
  const allocatable = topology.online.difference(reserved).difference(isolated);
  return {
    ...partial,
    dieGroups: groupNodes(nodes, (node) => node.die),
    socketGroups: groupNodes(nodes, (node) => node.packageId),
    reserved,
    isolated,
    allocatable,
    allocatableMask: maskOf(allocatable, cpuSlots),
    isolatedMask: maskOf(isolated, cpuSlots),
    allocatableByNode: nodes.map((node) => allocatable.filter((id) => nodeIndexOfCpu[id] === node.index)),
  };
}

export function maskOf(cpus: CpuSet, slots: number): Uint8Array {
  const mask = new Uint8Array(slots);
  for (const id of cpus) if (id < slots) mask[id] = 1;
  return mask;
}

function groupNodes(nodes: readonly NodeInfo[], keyOf: (node: NodeInfo) => string | number | null): number[][] {
  const groups = new Map<string | number, number[]>();
  for (const node of nodes) {
    const key = keyOf(node);
    if (key === null) continue;
    const group = groups.get(key) ?? [];
    group.push(node.index);
    groups.set(key, group);
  }
  return [...groups.values()].filter((group) => group.length > 1);
}
