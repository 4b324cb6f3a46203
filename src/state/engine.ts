// The placement engine bound to the machine's topology and the policy in force (read at each
// call, so a reloaded policy applies to the next decision).
import type { Policy } from '../config/types.js';
import { adoptContainer, placeContainer, releaseContainer, renameContainer, reservedCpus, sharedPool } from '../placement/engine.js';
import { CpuSet } from '../topology/cpuset.js';
import type { Topology } from '../topology/types.js';
import type { PlacementEngine } from './ports.js';

export function bindPlacementEngine(topology: Topology, policy: () => Policy): PlacementEngine {
  const nodesWithCpus = CpuSet.of(topology.nodes.filter((node) => !node.cpus.isEmpty()).map((node) => node.id));
  return {
    place: (allocations, id, request) => placeContainer(topology, policy(), allocations, id, request),
    release: (allocations, id) => releaseContainer(topology, policy(), allocations, id),
    adopt: (allocations, id, request, cpus, mems) =>
      // No cpuset reported: the container may run on every CPU, so that is what adoption weighs.
      adoptContainer(topology, policy(), allocations, id, request, cpus ?? topology.online, mems ?? nodesWithCpus),
    rename: (allocations, fromId, toId) => renameContainer(topology, policy(), allocations, fromId, toId),
    sharedPool: (allocations) => sharedPool(topology, policy(), allocations),
    reserved: () => reservedCpus(topology, policy()),
  };
}
