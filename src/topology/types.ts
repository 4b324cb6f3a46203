// The machine's topology as plain immutable data. Discovery (discover.ts) builds it from
// sysfs; everything else only reads it. Queries that callers need often (node of a CPU,
// distance between nodes) are precomputed so they cost a map lookup.
import type { CpuSet } from './cpuset.js';

export interface Cpu {
  readonly id: number;
  readonly packageId: number;
  /** -1 where the kernel reports no die (Arm, old kernels). */
  readonly dieId: number;
  /** -1 where the kernel reports no cluster. */
  readonly clusterId: number;
  readonly coreId: number;
  /** NUMA node of this CPU; 0 on machines without NUMA information. */
  readonly nodeId: number;
  /** All online CPUs of this physical core, this one included. */
  readonly threadSiblings: CpuSet;
  /** Cache instance keys (see Cache.key) of the L2 and L3 this CPU uses, when known. */
  readonly l2?: string;
  readonly l3?: string;
}

export interface Cache {
  /**
   * Unique per instance: `L<level>:<id>` where the kernel gives cache ids, else
   * `L<level>:cpu<first cpu of shared set>`.
   */
  readonly key: string;
  readonly level: number;
  /** Unified, Data or Instruction. */
  readonly type: string;
  readonly sizeBytes: number | null;
  readonly cpus: CpuSet;
}

export interface NumaNode {
  readonly id: number;
  /** Online CPUs of the node; empty for memory-only nodes. */
  readonly cpus: CpuSet;
  readonly memoryBytes: number | null;
  /** Distance to every node by id, or null where the kernel gave none. */
  readonly distances: ReadonlyMap<number, number> | null;
  /** A node with memory and no CPUs: PMEM, CXL, HBM or GPU memory. */
  readonly memoryOnly: boolean;
}

export interface Topology {
  /** Online CPUs by id. Offline and absent CPUs have no entry. */
  readonly cpus: ReadonlyMap<number, Cpu>;
  readonly online: CpuSet;
  /** Present CPUs that are not online (hot-unplugged, or not brought up). */
  readonly offline: CpuSet;
  /**
   * CPUs the firmware lists as possible but that are not present (empty sockets, hotplug
   * slots). The kernel's own `cpu/offline` file lists these together with `offline`.
   */
  readonly absent?: CpuSet;
  /** From `cpu/isolated` (isolcpus=); may name CPUs that are not online. */
  readonly isolated: CpuSet;
  /** NUMA nodes by ascending id. */
  readonly nodes: readonly NumaNode[];
  /** L2 and L3 cache instances (data and unified caches only). */
  readonly caches: readonly Cache[];
  /** Package (socket) ids in ascending order. */
  readonly packages: readonly number[];
}
