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
  const move = (allocation: Allocation, cpus: CpuSet, mems: CpuSet): void => {
    moved.push({ ...allocation, cpus, mems });
    updates.push({ id: allocation.id, cpus, mems });
  };
  for (const allocation of allocations.values()) {
    if (allocation.pool !== 'shared' || allocation.id === except) continue;
    const pinned = allocation.pinnedNode;
    if (pinned === undefined) {
      const mems = nodesChanged ? allocation.mems.difference(before.nodes).union(after.nodes) : allocation.mems;
      move(allocation, after.all, mems);
      continue;
    }
    const index = context.nodeIndexById.get(pinned)!;
    if (!changed[index]) continue;
    if (!after.byNode[index]!.isEmpty()) {
      move(allocation, after.byNode[index]!, allocation.mems);
      continue;
    }
    // The node lost its last shared CPU: the container moves to the whole pool, for good.
    const { pinnedNode: _, ...unpinned } = allocation;
    const reasons = [...allocation.reasons, `rule 3: node ${pinned} has no shared CPU left: moved to the whole shared pool`];
    move({ ...unpinned, reasons }, after.all, allocation.mems.union(after.nodes));
  }
  return { moved, updates };
}
