// A checkpoint checked against the machine it is loaded on, pure: every CPU and memory node it
// names must exist now, and no CPU may have two exclusive owners. A checkpoint that fails here
// would make the daemon hand out CPUs it cannot keep its promises about.
import { CpuSet } from '../topology/cpuset.js';
import type { Topology } from '../topology/types.js';
import { rebuildHint, type StateProblem, type StateSnapshot } from './types.js';

export function validateSnapshot(snapshot: StateSnapshot, topology: Topology, source: string): StateProblem | null {
  const nodes = CpuSet.of(topology.nodes.map((node) => node.id));
  for (const allocation of snapshot.allocations.values()) {
    const missingCpus = allocation.cpus.difference(topology.online);
    if (!missingCpus.isEmpty()) {
      return {
        code: 'machine-mismatch',
        message:
          `state checkpoint ${source} places container ${allocation.id} on CPUs ${missingCpus.format()}, which are not online on this machine ` +
          `(online: ${topology.online.format()}): bring those CPUs back online, or ${rebuildHint}`,
      };
    }
    const missingNodes = allocation.mems.difference(nodes);
    if (!missingNodes.isEmpty()) {
      return {
        code: 'machine-mismatch',
        message:
          `state checkpoint ${source} gives container ${allocation.id} memory nodes ${missingNodes.format()}, which this machine does not have ` +
          `(nodes: ${nodes.format()}): ${rebuildHint}`,
      };
    }
  }
  const owners = new Map<number, string>();
  for (const allocation of snapshot.allocations.values()) {
    if (!allocation.exclusive) continue;
    for (const cpu of allocation.cpus) {
      const other = owners.get(cpu);
      if (other !== undefined) {
        return {
          code: 'conflict',
          message: `state checkpoint ${source} gives CPU ${cpu} exclusively to both ${other} and ${allocation.id}: the checkpoint is inconsistent; ${rebuildHint}`,
        };
      }
      owners.set(cpu, allocation.id);
    }
  }
  return null;
}
