// The placement benchmark's baseline: a topology-blind first-fit allocator, as a CPU manager
// that knows only CPU ids would do. Exclusive requests get the lowest-numbered free CPUs and
// memory on every node; everything else is left to the kernel.
import { CpuSet } from '../src/topology/cpuset.js';
import type { Topology } from '../src/topology/types.js';

export class FirstFitBaseline {
  private readonly free: Set<number>;
  private readonly held = new Map<string, CpuSet>();
  private readonly allNodes: CpuSet;

  constructor(topology: Topology) {
    this.free = new Set(topology.online.difference(topology.isolated));
    this.allNodes = CpuSet.of(topology.nodes.filter((node) => node.memoryBytes !== 0).map((node) => node.id));
  }

  /** Exclusive CPUs for `count`, or null when fewer are free (the pool keeps one, as the engine's). */
  admitExclusive(id: string, count: number): { cpus: CpuSet; mems: CpuSet } | null {
    if (count > this.free.size - 1) return null;
    const cpus = CpuSet.of([...this.free].sort((a, b) => a - b).slice(0, count));
    for (const cpu of cpus) this.free.delete(cpu);
    this.held.set(id, cpus);
    return { cpus, mems: this.allNodes };
  }

  release(id: string): void {
    for (const cpu of this.held.get(id) ?? []) this.free.add(cpu);
    this.held.delete(id);
  }
}
