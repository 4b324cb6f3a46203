// Rule 3's follow-up: when exclusive CPUs change, shared containers follow their pool. A
// container pinned to a node gets that node's new shared CPUs (the whole pool when the node has
// none left); one on the whole pool gets the new pool. Only what changes is listed, in the
// allocations' order.
import type { CpuSet } from '../topology/cpuset.js';
import type { PlacementContext } from './context.js';
import type { Allocation, Allocations, CpusetUpdate } from './types.js';
import type { SharedPool } from './usage.js';

export interface SharedRefresh {
  /** The shared containers' new allocations. */
  readonly moved: readonly Allocation[];
  readonly updates: readonly CpusetUpdate[];
}

export function refreshShared(
  context: PlacementContext,
  allocations: Allocations,
  before: SharedPool,
  after: SharedPool,
  except: string,
): SharedRefresh {
  const changed = before.byNode.map((cpus, index) => !cpus.equals(after.byNode[index]!));
  if (!changed.includes(true)) return { moved: [], updates: [] };
  const nodesChanged = !before.nodes.equals(after.nodes);
  const moved: Allocation[] = [];
  const updates: CpusetUpdate[] = [];
  const move = (allocation: Allocation, cpus: CpuSet, mems: CpuSet, unpinned?: string): void => {
    moved.push(movedAllocation(allocation, cpus, mems, unpinned));
    updates.push({ id: allocation.id, cpus, mems });
  };
  allocations.forEach((allocation) => {
    if (allocation.pool !== 'shared' || allocation.id === except) return;
    const pinned = allocation.pinnedNode;
    if (pinned === undefined) {
      const mems = nodesChanged ? allocation.mems.difference(before.nodes).union(after.nodes) : allocation.mems;
      move(allocation, after.all, mems);
      return;
    }
    const index = context.nodeIndexById.get(pinned)!;
    if (!changed[index]) return;
    if (!after.byNode[index]!.isEmpty()) {
      move(allocation, after.byNode[index]!, allocation.mems);
      return;
    }
    // The node lost its last shared CPU: the container moves to the whole pool, for good.
    const why = `rule 3: node ${pinned} has no shared CPU left: moved to the whole shared pool`;
    move(allocation, after.all, allocation.mems.union(after.nodes), why);
  });
  return { moved, updates };
}

/** The allocation on new cpusets; `unpinned` (a reason) also takes it off its node. */
function movedAllocation(allocation: Allocation, cpus: CpuSet, mems: CpuSet, unpinned?: string): Allocation {
  const { id, request, pool, exclusive, reasons, pinnedNode } = allocation;
  if (unpinned !== undefined) return { id, request, cpus, mems, pool, exclusive, reasons: [...reasons, unpinned] };
  return pinnedNode === undefined
    ? { id, request, cpus, mems, pool, exclusive, reasons }
    : { id, request, cpus, mems, pool, exclusive, reasons, pinnedNode };
}
