// Rule 1's CPU set: the policy's `reserved.cpus` list (online ones), or `reserved.count` CPUs
// taken by topology: whole cores first, lowest node first, never isolated CPUs.
import { CpuSet } from '../topology/cpuset.js';
import type { PlacementContext } from './context.js';
import { takeFromNode } from './take-cpus.js';

type ReservedInputs = Pick<PlacementContext, 'topology' | 'policy' | 'cpuSlots' | 'coreOfCpu' | 'nodes' | 'threadsPerCore'>;

export function takeReservedCpus(context: ReservedInputs): CpuSet {
  const { topology, policy } = context;
  if (policy.reserved.cpus !== null) return CpuSet.parse(policy.reserved.cpus).intersect(topology.online);
  const free = new Uint8Array(context.cpuSlots);
  for (const id of topology.online.difference(topology.isolated)) free[id] = 1;
  const taken: number[] = [];
  for (const node of context.nodes) {
    const remaining = policy.reserved.count - taken.length;
    if (remaining <= 0) break;
    taken.push(...takeFromNode(context, node, remaining, free, true));
  }
  return CpuSet.of(taken);
}
