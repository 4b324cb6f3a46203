// The placement engine: pure functions of (topology, policy, allocations, request) that return
// a decision with its reasons, or a rejection with a reason. No clock, no file, no socket.
//
// Rules (each decision's reasons name the rules that decided it):
// 1. Reserved CPUs (policy `reserved.cpus`, or `reserved.count` taken by topology: whole cores,
//    lowest node first) serve system pods (namespaces in `reserved.namespaces`) and are never
//    handed to anyone else.
// 2. Guaranteed containers with an integer CPU request get exclusive CPUs (when
//    `placement.exclusiveCpus`) from the smallest unit that fits: a NUMA node, then a die, then
//    a socket, then the machine; whole physical cores and CPUs sharing a cache first (the order
//    is written in take-cpus.ts). Every node keeps `minSharedCpusPerNode` shared CPUs and the
//    shared pool never empties. When they do not fit: reject, or run shared
//    (`placement.onInsufficient`).
// 3. Everything else runs in the shared pool: online CPUs not reserved, isolated or exclusive.
//    With `pinSharedToNode`, a container whose CPU limit (else request) fits a node's shared
//    CPUs is pinned to the node with the most free shared capacity (its shared CPUs minus the
//    requests pinned there), ties by id; otherwise it gets the whole pool. A decision that
//    changes the pool lists every shared container whose cpuset changes.
// 4. Memory nodes follow the CPUs and widen to the nearest nodes when the memory limit does not
//    fit (memory.ts); memory-only nodes only where the policy allows.
// 5. Annotations: `cri-rebalancer.io/isolated-cpus: "true"` asks for isolated CPUs (namespaces
//    in `annotations.isolatedCpusNamespaces`, "*" for all); `cri-rebalancer.io/shared-cpus:
//    "true"` opts out of exclusive CPUs (always allowed: it grants less). Annotations never reach
//    reserved CPUs; one the policy does not allow is ignored and the reasons say so.
// 6. The same inputs give the same decision; releasing gives back exactly what was held; an
//    adopted container never makes a CPU exclusive to two owners.
import type { Policy } from '../config/types.js';
import { CpuSet } from '../topology/cpuset.js';
import type { Topology } from '../topology/types.js';
import { nodesOfCpus } from '../topology/queries.js';
import { placementContext, type PlacementContext } from './context.js';
import { chooseMemoryNodes } from './memory.js';
import { memoryOnlyAllowed, routeRequest } from './route.js';
import { refreshShared } from './refresh-shared.js';
import { chooseNodes, takeFromNode, wholeFreeCpus } from './take-cpus.js';
import type {
  Allocation,
  Allocations,
  ContainerRequest,
  PlacementRejection,
  PlacementResult,
  PlacementTarget,
  PoolKind,
  RejectionReason,
  ReleaseResult,
} from './types.js';
import { changeAllocations, sharedPoolOf, usageOf, type SharedPool, type Usage } from './usage.js';

/** Rule 1's CPUs for this topology and policy. */
export function reservedCpus(topology: Topology, policy: Policy): CpuSet {
  return placementContext(topology, policy).reserved;
}

/** Rule 3's pool: online CPUs that are not reserved, isolated or exclusive. */
export function sharedPool(topology: Topology, policy: Policy, allocations: Allocations): CpuSet {
  const context = placementContext(topology, policy);
  return sharedPoolOf(context, usageOf(context, allocations).owned).all;
}

/** Places a new container. */
export function placeContainer(
  topology: Topology,
  policy: Policy,
  allocations: Allocations,
  id: string,
  request: ContainerRequest,
): PlacementResult {
  if (allocations.has(id)) return duplicate(id);
  const context = placementContext(topology, policy);
  const usage = usageOf(context, allocations);
  const route = routeRequest(context, request);
  const reasons = [...route.reasons];
  if (route.kind === 'reserved') {
    return commit(context, allocations, usage, place(context, usage, id, request, 'reserved', context.reserved, reasons));
  }
  if (route.kind !== 'shared') {
    const taken = takeExclusive(context, usage, route.kind, route.count);
    if (taken.ok) {
      reasons.push(taken.reason);
      return commit(context, allocations, usage, place(context, usage, id, request, route.kind, taken.cpus, reasons));
    }
    if (policy.placement.onInsufficient === 'reject') return { ok: false, rejection: taken.rejection };
    reasons.push(`rule 2: ${taken.rejection.message.split(';')[0]}; runs in the shared pool (placement.onInsufficient: shared)`);
  }
  return placeShared(context, allocations, usage, id, request, reasons, null);
}

/** Releases a container: its CPUs return to where they came from; shared cpusets may grow. */
export function releaseContainer(topology: Topology, policy: Policy, allocations: Allocations, id: string): ReleaseResult {
  const released = allocations.get(id);
  if (released === undefined) return { released: null, allocations, updates: [] };
  const context = placementContext(topology, policy);
  if (released.pool !== 'exclusive') return { released, allocations: changeAllocations(context, allocations, [], id), updates: [] };
  const owned = usageOf(context, allocations).owned;
  const before = sharedPoolOf(context, owned);
  const after = sharedPoolOf(context, withCpus(owned, released.cpus, 0));
  const { moved, updates } = refreshShared(context, allocations, before, after, id);
  return { released, allocations: changeAllocations(context, allocations, moved, id), updates };
}

/**
 * The allocations with `fromId`'s allocation under `toId` (a pending create bound to the id the
 * runtime gave it), in the same order a Map delete and set would give; unchanged when `fromId`
 * is unknown or `toId` taken. Cheaper than copying into a plain Map, which the next decision
 * would have to count afresh.
 */
export function renameContainer(topology: Topology, policy: Policy, allocations: Allocations, fromId: string, toId: string): Allocations {
  const allocation = allocations.get(fromId);
  if (allocation === undefined || allocations.has(toId)) return allocations;
  return changeAllocations(placementContext(topology, policy), allocations, [{ ...allocation, id: toId }], fromId);
}

/**
 * Moves a placed container onto `target` (the rebalancer's move). Exclusive containers keep
 * their CPU count on CPUs of the same kind that nobody else holds; shared containers move to
 * one node's shared CPUs or to the whole pool; `mems` must cover the nodes of the CPUs.
 */
export function replaceContainer(
  topology: Topology,
  policy: Policy,
  allocations: Allocations,
  id: string,
  target: PlacementTarget,
): PlacementResult {
  const current = allocations.get(id);
  if (current === undefined) {
    return reject('unknown-container', target.cpus.size, 0, `container ${id} is not placed; place it before moving it`);
  }
  const context = placementContext(topology, policy);
  const usage = usageOf(context, allocations);
  const owned = current.exclusive ? withCpus(usage.owned, current.cpus, 0) : usage.owned;
  const invalid = (problem: string): PlacementResult =>
    reject('invalid-target', target.cpus.size, current.cpus.size, `cannot move ${id} to CPUs ${target.cpus}: ${problem}`);
  const memsProblem = checkMems(context, current.request, target.cpus, target.mems);
  if (memsProblem !== null) return invalid(memsProblem);
  const movedReason = `moved: to CPUs ${target.cpus} and memory nodes ${target.mems}`;
  const reasons = [...current.reasons.filter((reason) => !reason.startsWith('moved: ')), movedReason];

  if (current.pool === 'reserved') return invalid('system pods stay on the reserved CPUs');
  if (current.pool === 'shared') {
    const pool = sharedPoolOf(context, owned);
    const node = pool.byNode.findIndex((cpus) => !cpus.isEmpty() && cpus.equals(target.cpus));
    if (node < 0 && !pool.all.equals(target.cpus)) {
      return invalid(`a shared container moves to one node's shared CPUs or to the whole pool ${pool.all}`);
    }
    const { pinnedNode: _, ...rest } = current;
    const allocation: Allocation = { ...rest, cpus: target.cpus, mems: target.mems, reasons };
    const next = node < 0 ? allocation : { ...allocation, pinnedNode: context.nodes[node]!.id };
    return { ok: true, decision: { allocation: next, updates: [], allocations: changeAllocations(context, allocations, [next]) } };
  }
  if (target.cpus.size !== current.cpus.size) return invalid(`it holds ${current.cpus.size} CPUs and keeps that many`);
  const problem = ownershipProblem(context, owned, current.pool, target.cpus);
  if (problem !== null) return invalid(problem);
  const allocation: Allocation = { ...current, cpus: target.cpus, mems: target.mems, reasons };
  if (current.pool === 'isolated') {
    return { ok: true, decision: { allocation, updates: [], allocations: changeAllocations(context, allocations, [allocation]) } };
  }
  const before = sharedPoolOf(context, usage.owned);
  const after = sharedPoolOf(context, withCpus(owned, target.cpus, 1));
  const starved = context.nodes.find(
    (node) => after.byNode[node.index]!.size < Math.min(context.policy.placement.minSharedCpusPerNode, before.byNode[node.index]!.size),
  );
  if (after.all.isEmpty()) return invalid('the shared pool would be empty');
  if (starved !== undefined) return invalid(`node ${starved.id} would keep fewer than placement.minSharedCpusPerNode shared CPUs`);
  const { moved, updates } = refreshShared(context, allocations, before, after, id);
  return { ok: true, decision: { allocation, updates, allocations: changeAllocations(context, allocations, [allocation, ...moved]) } };
}

/**
 * Adopts a running container the allocations do not know (a daemon restart), keeping its CPUs
 * where that is safe: exclusive CPUs only when they are free and of the right kind; otherwise it
 * joins the shared pool and the reasons say why.
 */
export function adoptContainer(
  topology: Topology,
  policy: Policy,
  allocations: Allocations,
  id: string,
  request: ContainerRequest,
  cpus: CpuSet,
  mems: CpuSet,
): PlacementResult {
  if (allocations.has(id)) return duplicate(id);
  const context = placementContext(topology, policy);
  const usage = usageOf(context, allocations);
  const route = routeRequest(context, request);
  const reasons = [`rule 6: adopted a running container found with CPUs ${cpus} and memory nodes ${mems}`, ...route.reasons];
  const keepMems = (onCpus: CpuSet): CpuSet =>
    mems.filter((node) => context.nodeIndexById.has(node)).union(nodesOfCpus(context.topology, onCpus));
  if (route.kind === 'reserved') {
    const allocation = allocationOf(id, request, 'reserved', context.reserved, keepMems(context.reserved), reasons);
    return commit(context, allocations, usage, allocation);
  }
  if (route.kind !== 'shared') {
    const problem =
      cpus.size === route.count
        ? ownershipProblem(context, usage.owned, route.kind, cpus)
        : `it runs on ${cpus.size} CPUs but requests ${route.count}`;
    if (problem === null) {
      reasons.push(`rule 2: keeps its ${route.kind} CPUs ${cpus}`);
      return commit(context, allocations, usage, allocationOf(id, request, route.kind, cpus, keepMems(cpus), reasons));
    }
    reasons.push(`rule 6: adopted in the shared pool instead of ${route.kind} CPUs: ${problem}`);
  }
  const onNodes = nodesOfCpus(context.topology, cpus);
  const pool = sharedPoolOf(context, usage.owned);
  const node = onNodes.size === 1 ? context.nodeIndexById.get(onNodes.first()!)! : -1;
  const pinned = policy.placement.pinSharedToNode && node >= 0 && !pool.byNode[node]!.isEmpty() ? node : null;
  return placeShared(context, allocations, usage, id, request, reasons, pinned, keepMems);
}

type Taken =
  | { readonly ok: true; readonly cpus: CpuSet; readonly reason: string }
  | { readonly ok: false; readonly rejection: PlacementRejection };

/** Rule 2 (and rule 5's isolated CPUs): `count` CPUs only this container will use. */
function takeExclusive(context: PlacementContext, usage: Usage, kind: 'exclusive' | 'isolated', count: number): Taken {
  const universe = kind === 'exclusive' ? context.allocatableMask : context.isolatedMask;
  const keepShared = kind === 'exclusive' ? context.policy.placement.minSharedCpusPerNode : 0;
  const free = new Uint8Array(context.cpuSlots);
  const takeable = new Int32Array(context.nodes.length);
  let totalFree = 0;
  let totalTakeable = 0;
  for (const node of context.nodes) {
    let count = 0;
    for (const id of node.cpus) {
      if (universe[id] === 1 && usage.owned[id] !== 1) {
        free[id] = 1;
        count++;
      }
    }
    takeable[node.index] = Math.max(0, count - keepShared);
    totalFree += count;
    totalTakeable += takeable[node.index]!;
  }
  const available = kind === 'exclusive' ? Math.max(0, Math.min(totalTakeable, totalFree - 1)) : totalTakeable;
  const wholeCpus = new Int32Array(context.nodes.length);
  if (context.policy.placement.preferWholeCores) {
    for (const node of context.nodes) wholeCpus[node.index] = wholeFreeCpus(context, node, free);
  }
  const choice = count <= available ? chooseNodes(context, count, takeable, wholeCpus) : null;
  if (choice === null) {
    const what = kind === 'exclusive' ? 'exclusive' : 'isolated';
    const kept =
      kind === 'exclusive'
        ? ` (${totalFree} free; ${keepShared > 0 ? `each node keeps ${keepShared} shared and ` : ''}the shared pool keeps at least one)`
        : '';
    const rejection: PlacementRejection = {
      reason: kind === 'exclusive' ? 'insufficient-cpus' : 'insufficient-isolated-cpus',
      requested: count,
      available,
      message:
        `asked for ${count} ${what} CPU${count === 1 ? '' : 's'}, ${available} can be given${kept}; ` +
        `free ${what} CPUs by removing pods that hold them, lower the CPU request` +
        (kind === 'exclusive' ? ', or set placement.onInsufficient: shared' : ', or isolate more CPUs (isolcpus=)'),
    };
    return { ok: false, rejection };
  }
  const taken: number[] = [];
  for (const index of choice.nodes) {
    const quota = Math.min(takeable[index]!, count - taken.length);
    if (quota <= 0) break;
    taken.push(...takeFromNode(context, context.nodes[index]!, quota, free, context.policy.placement.preferWholeCores));
  }
  const cpus = CpuSet.of(taken);
  const nodes = choice.nodes.map((index) => context.nodes[index]!.id);
  const where =
    choice.level === 'node'
      ? `on NUMA node ${nodes[0]} (best fit: ${takeable[choice.nodes[0]!]} could be taken there)`
      : `across NUMA nodes ${CpuSet.of(nodes)} (no single node has room; fewest and closest nodes within one ${choice.level})`;
  return { ok: true, cpus, reason: `rule 2: ${count} ${kind} CPU${count === 1 ? '' : 's'} ${where}: ${describeCpus(context, cpus)}` };
}

/** "2 whole cores, 1 L3 cache": how well the CPUs sit together. */
function describeCpus(context: PlacementContext, cpus: CpuSet): string {
  const cores = new Set(cpus.toArray().map((id) => context.coreOfCpu.get(id)!));
  const whole = [...cores].filter((core) => core.cpus.every((id) => cpus.has(id))).length;
  const l3s = new Set([...cores].map((core) => core.l3)).size;
  return `${whole} whole core${whole === 1 ? '' : 's'} of ${cores.size}, ${l3s} L3 cache${l3s === 1 ? '' : 's'}`;
}

/** Why `cpus` cannot be exclusive to one more container, or null when they can. */
function ownershipProblem(context: PlacementContext, owned: Uint8Array, kind: PoolKind, cpus: CpuSet): string | null {
  const universe = kind === 'isolated' ? context.isolatedMask : context.allocatableMask;
  for (const id of cpus) {
    if (owned[id] === 1) return `CPU ${id} is already exclusive to another container`;
    if (universe[id] !== 1) {
      if (context.reserved.has(id)) return `CPU ${id} is reserved for system pods`;
      if (kind === 'isolated') return `CPU ${id} is not an isolated CPU`;
      return context.isolated.has(id) ? `CPU ${id} is isolated` : `CPU ${id} is not online`;
    }
  }
  return null;
}

/** Rule 4 checks on a target's memory nodes; null when they are fine. */
function checkMems(context: PlacementContext, request: ContainerRequest, cpus: CpuSet, mems: CpuSet): string | null {
  const unknown = mems.toArray().find((node) => !context.nodeIndexById.has(node));
  if (unknown !== undefined) return `memory node ${unknown} does not exist`;
  const uncovered = nodesOfCpus(context.topology, cpus).difference(mems);
  if (!uncovered.isEmpty()) return `memory nodes ${mems} leave out node(s) ${uncovered} of its CPUs`;
  const memoryOnly = mems.toArray().find((node) => context.nodes[context.nodeIndexById.get(node)!]!.memoryOnly);
  if (memoryOnly !== undefined && !memoryOnlyAllowed(context.policy, request, [])) {
    return `memory-only node ${memoryOnly} is not allowed for it (placement.memoryOnlyNodes)`;
  }
  return null;
}

/** Rule 3: the shared pool, pinned to one node where the container fits there. */
function placeShared(
  context: PlacementContext,
  allocations: Allocations,
  usage: Usage,
  id: string,
  request: ContainerRequest,
  reasons: string[],
  adoptedNode: number | null,
  adoptMems?: (cpus: CpuSet) => CpuSet,
): PlacementResult {
  const pool = sharedPoolOf(context, usage.owned);
  const sizeMilli = request.cpuLimitMilli ?? request.cpuRequestMilli;
  if (pool.all.isEmpty()) {
    const requested = Math.max(1, Math.ceil(sizeMilli / 1000));
    return reject(
      'insufficient-cpus',
      requested,
      0,
      'the shared pool is empty (every allocatable CPU is reserved, isolated or exclusive); ' +
        'reserve fewer CPUs or release exclusive ones',
    );
  }
  const node = adoptedNode ?? (context.policy.placement.pinSharedToNode ? pinNode(context, pool, usage, sizeMilli) : null);
  const qos = `${request.qos}${request.qos === 'Guaranteed' ? ' (fractional or opted out)' : ''}`;
  let cpus = pool.all;
  if (node === null) {
    const why = context.policy.placement.pinSharedToNode
      ? `its CPU ${request.cpuLimitMilli === null ? 'request' : 'limit'} of ${sizeMilli}m fits no single node's shared CPUs`
      : 'placement.pinSharedToNode is off';
    reasons.push(`rule 3: ${qos}: the whole shared pool (${why})`);
  } else {
    cpus = pool.byNode[node]!;
    const freeMilli = cpus.size * 1000 - usage.pinnedMilli[node]!;
    reasons.push(
      adoptedNode === null
        ? `rule 3: ${qos}: pinned to node ${context.nodes[node]!.id}'s shared CPUs (most free shared capacity: ${freeMilli}m of ${cpus.size * 1000}m)`
        : `rule 3: ${qos}: pinned to node ${context.nodes[node]!.id}'s shared CPUs, where it was running`,
    );
  }
  const placed =
    adoptMems === undefined
      ? place(context, usage, id, request, 'shared', cpus, reasons, node === null ? pool.nodes : undefined)
      : allocationOf(id, request, 'shared', cpus, adoptMems(cpus), reasons);
  const allocation = node === null ? placed : { ...placed, pinnedNode: context.nodes[node]!.id };
  return commit(context, allocations, usage, allocation);
}

/** Rule 3: the node whose shared CPUs fit the container with the most free capacity, ties by id. */
function pinNode(context: PlacementContext, pool: SharedPool, usage: Usage, sizeMilli: number): number | null {
  let best: number | null = null;
  let bestFree = -Infinity;
  for (const node of context.nodes) {
    const capacity = pool.byNode[node.index]!.size * 1000;
    if (capacity === 0 || sizeMilli > capacity) continue;
    const free = capacity - usage.pinnedMilli[node.index]!;
    if (free > bestFree) {
      best = node.index;
      bestFree = free;
    }
  }
  return best;
}

/** An allocation on `cpus` with rule 4's memory nodes. */
function place(
  context: PlacementContext,
  usage: Usage,
  id: string,
  request: ContainerRequest,
  pool: PoolKind,
  cpus: CpuSet,
  reasons: string[],
  cpuNodes: CpuSet = nodesOfCpus(context.topology, cpus),
): Allocation {
  const allowMemoryOnly = memoryOnlyAllowed(context.policy, request, reasons);
  const memory = chooseMemoryNodes(context, cpuNodes, request.memoryLimitBytes, usage.committedBytes, allowMemoryOnly);
  reasons.push(memory.reason);
  return allocationOf(id, request, pool, cpus, memory.mems, reasons);
}

function allocationOf(
  id: string,
  request: ContainerRequest,
  pool: PoolKind,
  cpus: CpuSet,
  mems: CpuSet,
  reasons: readonly string[],
): Allocation {
  return { id, request, cpus, mems, pool, exclusive: pool === 'exclusive' || pool === 'isolated', reasons };
}

/** The new allocations with `allocation` added, and the shared containers its CPUs move. */
function commit(context: PlacementContext, allocations: Allocations, usage: Usage, allocation: Allocation): PlacementResult {
  if (allocation.pool !== 'exclusive') {
    return { ok: true, decision: { allocation, updates: [], allocations: changeAllocations(context, allocations, [allocation]) } };
  }
  const before = sharedPoolOf(context, usage.owned);
  const after = sharedPoolOf(context, withCpus(usage.owned, allocation.cpus, 1));
  const { moved, updates } = refreshShared(context, allocations, before, after, allocation.id);
  return { ok: true, decision: { allocation, updates, allocations: changeAllocations(context, allocations, [allocation, ...moved]) } };
}

/** A copy of `owned` with `cpus` set to `value`. */
function withCpus(owned: Uint8Array, cpus: CpuSet, value: 0 | 1): Uint8Array {
  const copy = owned.slice();
  for (const id of cpus) copy[id] = value;
  return copy;
}

function reject(reason: RejectionReason, requested: number, available: number, message: string): PlacementResult {
  return { ok: false, rejection: { reason, requested, available, message } };
}

function duplicate(id: string): PlacementResult {
  return reject('duplicate-container', 0, 0, `container ${id} is already placed; release it before placing it again`);
}
