// What the current allocations use, derived from them alone (so releasing an allocation gives
// back exactly what it held): exclusively owned CPUs, the shared pool per node, the CPU requests
// pinned to each node's shared CPUs and the memory limits committed on each node.
import { CpuSet } from '../topology/cpuset.js';
import { AllocationMap } from './allocation-map.js';
import type { PlacementContext } from './context.js';
import { memoized } from './memo.js';
import type { Allocation, Allocations } from './types.js';

export interface Usage {
  /** 1 where an exclusive or isolated allocation holds the CPU. Never written once made. */
  readonly owned: Uint8Array;
  /** Per node index: milliCPU requested by shared containers pinned to that node. */
  readonly pinnedMilli: Float64Array;
  /** Per node index: memory-limit bytes committed there (a limit split evenly over its mems). */
  readonly committedBytes: Float64Array;
}

export interface SharedPool {
  /** Every shared CPU: online, not reserved, not isolated, not exclusive. */
  readonly all: CpuSet;
  /** Per node index: the node's shared CPUs. */
  readonly byNode: readonly CpuSet[];
  /** The node ids that have shared CPUs. */
  readonly nodes: CpuSet;
}

const cachedUsage = new WeakMap<PlacementContext, WeakMap<Allocations, Usage>>();

function cacheOf(context: PlacementContext): WeakMap<Allocations, Usage> {
  return memoized(cachedUsage, context, () => new WeakMap<Allocations, Usage>());
}

/** The usage of some allocations: remembered for maps the engine made, else counted afresh. */
export function usageOf(context: PlacementContext, allocations: Allocations): Usage {
  return memoized(cacheOf(context), allocations, () => {
    const usage: Usage = {
      owned: new Uint8Array(context.cpuSlots),
      pinnedMilli: new Float64Array(context.nodes.length),
      committedBytes: new Float64Array(context.nodes.length),
    };
    allocations.forEach((allocation) => count(context, usage, allocation, 1));
    return usage;
  });
}

/**
 * The allocations with `changed` set (added or replaced) and `removed` taken out, as a new map;
 * its usage is derived from the old one by the difference, so a decision costs what it changes.
 */
export function changeAllocations(
  context: PlacementContext,
  allocations: Allocations,
  changed: readonly Allocation[],
  removed: string | null = null,
): Allocations {
  const before = usageOf(context, allocations);
  const usage = { owned: before.owned.slice(), pinnedMilli: before.pinnedMilli.slice(), committedBytes: before.committedBytes.slice() };
  if (removed !== null) {
    const gone = allocations.get(removed);
    if (gone !== undefined) count(context, usage, gone, -1);
  }
  for (const allocation of changed) {
    const previous = removed === allocation.id ? undefined : allocations.get(allocation.id);
    if (previous !== undefined && usesTheSame(previous, allocation)) continue;
    if (previous !== undefined) count(context, usage, previous, -1);
    count(context, usage, allocation, 1);
  }
  const next = AllocationMap.change(allocations, changed, removed);
  cacheOf(context).set(next, usage);
  return next;
}

/** True when two allocations of one container count the same (a shared container's new CPUs). */
function usesTheSame(a: Allocation, b: Allocation): boolean {
  return !a.exclusive && !b.exclusive && a.mems === b.mems && a.pinnedNode === b.pinnedNode && a.request === b.request;
}

/** Adds (sign 1) or takes away (sign -1) what one allocation uses. Integer sums stay exact. */
function count(context: PlacementContext, usage: Usage, allocation: Allocation, sign: 1 | -1): void {
  if (allocation.exclusive) for (const id of allocation.cpus) usage.owned[id] = sign > 0 ? 1 : 0;
  if (allocation.pinnedNode !== undefined) {
    const index = context.nodeIndexById.get(allocation.pinnedNode);
    if (index !== undefined) usage.pinnedMilli[index] = usage.pinnedMilli[index]! + sign * allocation.request.cpuRequestMilli;
  }
  const limit = allocation.request.memoryLimitBytes;
  if (limit === null || limit <= 0 || allocation.mems.isEmpty()) return;
  // A limit splits evenly over its nodes, the remainder on the first: whole bytes, exact sums.
  const share = Math.floor(limit / allocation.mems.size);
  let first = true;
  for (const node of allocation.mems) {
    const index = context.nodeIndexById.get(node);
    const bytes = first ? limit - share * (allocation.mems.size - 1) : share;
    first = false;
    if (index !== undefined) usage.committedBytes[index] = usage.committedBytes[index]! + sign * bytes;
  }
}

export function sharedPoolOf(context: PlacementContext, owned: Uint8Array): SharedPool {
  const byNode = context.allocatableByNode.map((cpus) => {
    for (const id of cpus) if (owned[id] === 1) return cpus.filter((cpu) => owned[cpu] !== 1);
    return cpus;
  });
  const all = context.allocatable.filter((id) => owned[id] !== 1);
  const nodes = context.nodes.filter((node) => !byNode[node.index]!.isEmpty()).map((node) => node.id);
  return { all, byNode, nodes: CpuSet.of(nodes) };
}
