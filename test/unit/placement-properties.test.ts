// Properties of the placement engine over random admission and release sequences, on several
// topologies and policies: the invariants hold after every decision, decisions are
// deterministic, updates list exactly the shared containers that changed, and releasing
// everything restores the initial state.
import fc from 'fast-check';
import t from 'tap';
import type { Policy } from '../../src/config/types.js';
import { placementContext } from '../../src/placement/context.js';
import { placeContainer, releaseContainer, reservedCpus, sharedPool } from '../../src/placement/engine.js';
import { AllocationMap } from '../../src/placement/allocation-map.js';
import type { Allocation, Allocations, ContainerRequest, CpusetUpdate, PlacementResult } from '../../src/placement/types.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { nodesOfCpus } from '../../src/topology/queries.js';
import type { Topology } from '../../src/topology/types.js';
import { armQuirks, epycEightNode, pmemIsolated, sncFourNode, xeonGold6132 } from '../fixtures/specs.js';
import { dumpTopology, noSharedDumps, policyWith, request, specTopology } from './placement-topologies.js';

const GiB = 1024 ** 3;

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

const policyArbitrary = fc
  .record({
    count: fc.constantFrom(0, 2, 3),
    minSharedCpusPerNode: fc.constantFrom(0, 1, 2),
    pinSharedToNode: fc.boolean(),
    preferWholeCores: fc.boolean(),
    memoryOnlyNodes: fc.boolean(),
    onInsufficient: fc.constantFrom('reject' as const, 'shared' as const),
  })
  .map(({ count, ...placement }) =>
    policyWith({
      reserved: { count },
      placement,
      annotations: { isolatedCpusNamespaces: ['rt'], memoryOnlyNodesNamespaces: ['rt'] },
    }),
  );

const requestArbitrary: fc.Arbitrary<ContainerRequest> = fc
  .record({
    namespace: fc.constantFrom('default', 'default', 'kube-system', 'rt'),
    shape: fc.constantFrom('exclusive', 'exclusive', 'fractional', 'burstable', 'besteffort'),
    cpus: fc.integer({ min: 1, max: 12 }),
    limitMilli: fc.option(fc.integer({ min: 100, max: 40000 })),
    memoryGiB: fc.option(fc.integer({ min: 1, max: 100 })),
    annotation: fc.constantFrom(null, 'isolated-cpus', 'shared-cpus', 'memory-only-nodes'),
  })
  .map(({ namespace, shape, cpus, limitMilli, memoryGiB, annotation }) => {
    const annotations = annotation === null ? {} : { [`cri-rebalancer.io/${annotation}`]: 'true' };
    const memoryLimitBytes = memoryGiB === null ? null : memoryGiB * GiB;
    const base = { namespace, annotations, memoryLimitBytes };
    if (shape === 'exclusive' || shape === 'fractional') {
      const milli = shape === 'exclusive' ? cpus * 1000 : cpus * 1000 - 500;
      return request({ ...base, qos: 'Guaranteed', cpuRequestMilli: milli, cpuLimitMilli: milli });
    }
    if (shape === 'burstable') return request({ ...base, qos: 'Burstable', cpuRequestMilli: 100 * cpus, cpuLimitMilli: limitMilli });
    return request({ ...base, memoryLimitBytes: null });
  });

type Step = { kind: 'admit'; request: ContainerRequest } | { kind: 'release'; pick: number };

const stepsArbitrary: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: requestArbitrary.map((one): Step => ({ kind: 'admit', request: one })) },
    { weight: 1, arbitrary: fc.nat().map((pick): Step => ({ kind: 'release', pick })) },
  ),
  { minLength: 1, maxLength: 40 },
);

/** Every invariant the issue names, on one set of allocations. */
function checkInvariants(topology: Topology, policy: Policy, allocations: Allocations): void {
  const context = placementContext(topology, policy);
  const reserved = reservedCpus(topology, policy);
  const pool = sharedPool(topology, policy, allocations);
  const owner = new Map<number, string>();
  for (const allocation of allocations.values()) {
    const { id, cpus, mems, pool: kind, request: asked } = allocation;
    check(!cpus.isEmpty(), `${id} has no CPUs`);
    check(nodesOfCpus(topology, cpus).isSubsetOf(mems), `${id}: mems ${mems} miss nodes of CPUs ${cpus}`);
    if (kind === 'reserved') {
      check(policy.reserved.namespaces.includes(asked.namespace), `${id} on reserved CPUs is not a system pod`);
    } else {
      check(!cpus.intersects(reserved), `${id} (${kind}) holds reserved CPUs ${cpus.intersect(reserved)}`);
    }
    if (allocation.exclusive) {
      for (const cpu of cpus) {
        check(!owner.has(cpu), `CPU ${cpu} is exclusive to ${owner.get(cpu)} and ${id}`);
        owner.set(cpu, id);
      }
      check(!cpus.intersects(pool), `exclusive ${id} overlaps the shared pool`);
      const universe = kind === 'isolated' ? context.isolated : context.allocatable;
      check(cpus.isSubsetOf(universe), `${id} (${kind}) holds CPUs outside its kind`);
      if (kind === 'isolated') {
        check(asked.annotations['cri-rebalancer.io/isolated-cpus'] === 'true' && asked.namespace === 'rt', `${id}: isolated without permission`);
      }
    }
    if (kind === 'shared') {
      check(cpus.isSubsetOf(pool), `shared ${id} runs outside the shared pool`);
      if (allocation.pinnedNode !== undefined) {
        check(nodesOfCpus(topology, cpus).equals(CpuSet.of([allocation.pinnedNode])), `${id} is pinned to a node it does not run on`);
        check(cpus.equals(pool.intersect(topology.nodes.find((node) => node.id === allocation.pinnedNode)!.cpus)), `${id}: not the node's shared CPUs`);
      } else {
        check(cpus.equals(pool), `${id} on the whole pool has ${cpus}, the pool is ${pool}`);
      }
    }
  }
}

/** The updates name exactly the other containers whose cpus or mems changed, with their new values. */
function checkUpdates(before: Allocations, after: Allocations, updates: readonly CpusetUpdate[], changed: string): void {
  const listed = new Map(updates.map((update) => [update.id, update]));
  for (const [id, allocation] of after) {
    if (id === changed) continue;
    const previous = before.get(id)!;
    const moved = !previous.cpus.equals(allocation.cpus) || !previous.mems.equals(allocation.mems);
    check(moved === listed.has(id), `${id} ${moved ? 'moved but is not' : 'did not move but is'} listed in the updates`);
    const update = listed.get(id);
    if (update !== undefined) check(update.cpus.equals(allocation.cpus) && update.mems.equals(allocation.mems), `update of ${id} differs from its allocation`);
  }
}

/** A result with its allocations as the list of entries they iterate as. */
function comparable(result: PlacementResult): unknown {
  return result.ok ? { ...result.decision, allocations: [...result.decision.allocations] } : result;
}

function runSteps(topology: Topology, policy: Policy, steps: readonly Step[]): void {
  const initialPool = sharedPool(topology, policy, new Map());
  let allocations: Allocations = new Map();
  steps.forEach((step, index) => {
    if (step.kind === 'admit') {
      const id = `c${index}`;
      const result = placeContainer(topology, policy, allocations, id, step.request);
      const replay = placeContainer(topology, policy, new Map(allocations), id, step.request);
      check(JSON.stringify(comparable(replay)) === JSON.stringify(comparable(result)), `placing ${id} twice gave two decisions`);
      if (!result.ok) {
        check(result.rejection.requested > result.rejection.available, `rejected ${id} though ${result.rejection.available} of ${result.rejection.requested} were free`);
        return;
      }
      checkUpdates(allocations, result.decision.allocations, result.decision.updates, id);
      allocations = result.decision.allocations;
    } else {
      const ids = [...allocations.keys()];
      if (ids.length === 0) return;
      const id = ids[step.pick % ids.length]!;
      const held = allocations.get(id)!;
      const result = releaseContainer(topology, policy, allocations, id);
      check(result.released === held, 'releasing returns exactly what was held');
      check(!result.allocations.has(id), 'released container is gone');
      checkUpdates(allocations, result.allocations, result.updates, id);
      allocations = result.allocations;
    }
    checkInvariants(topology, policy, allocations);
  });
  for (const id of [...allocations.keys()].reverse()) allocations = releaseContainer(topology, policy, allocations, id).allocations;
  check(allocations.size === 0, 'everything released');
  check(sharedPool(topology, policy, allocations).equals(initialPool), 'the shared pool is whole again');
}

const specs = [xeonGold6132, sncFourNode, pmemIsolated, epycEightNode, armQuirks];

for (const spec of specs) {
  t.test(`random admissions and releases on ${spec.name}`, async (t) => {
    const topology = specTopology(spec);
    fc.assert(fc.property(policyArbitrary, stepsArbitrary, (policy, steps) => runSteps(topology, policy, steps)), { numRuns: 40 });
    t.pass('every invariant held');
  });
}

t.test('random admissions and releases on the real SNC PMEM machine', { skip: noSharedDumps }, async (t) => {
  const topology = (await dumpTopology('intel-xeon-2s-snc2-28c-ht-pmem-isolated'))!;
  fc.assert(fc.property(policyArbitrary, stepsArbitrary, (policy, steps) => runSteps(topology, policy, steps)), { numRuns: 30 });
  t.pass('every invariant held');
});

t.test('AllocationMap reads and iterates like a Map given the same sets and deletes', async (t) => {
  const operation = fc.record({ id: fc.integer({ min: 0, max: 30 }), remove: fc.boolean(), value: fc.nat(), twice: fc.boolean() });
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
      const model = new Map<string, Allocation>();
      let map: Allocations = AllocationMap.empty;
      for (const { id, remove, value, twice } of operations) {
        const key = `c${id}`;
        const allocation = { id: key, reasons: [String(value)] } as unknown as Allocation;
        const other = { id: `c${id + 1}`, reasons: ['other'] } as unknown as Allocation;
        const changed = twice ? [allocation, other] : [allocation];
        if (remove) model.delete(key);
        for (const one of changed) model.set(one.id, one);
        map = AllocationMap.change(map, changed, remove ? key : null);
        check(map.size === model.size, 'size');
        check(JSON.stringify([...map]) === JSON.stringify([...model]), 'entries in the same order');
        check(map.get(key) === model.get(key) && map.has('c99') === false, 'get and has');
      }
      const keys: string[] = [];
      map.forEach((_, key) => keys.push(key));
      check(JSON.stringify(keys) === JSON.stringify([...model.keys()]) && [...map.values()].length === model.size, 'forEach, keys, values');
      check(JSON.stringify([...map.keys()]) === JSON.stringify([...model.keys()]), 'keys');
    }),
    { numRuns: 100 },
  );
  const removedOnly = AllocationMap.change(new Map([['a', { id: 'a' } as unknown as Allocation]]), [], 'a');
  t.equal(removedOnly.size, 0);
  t.equal(removedOnly.get('a'), undefined);
  t.pass('an AllocationMap behaves as a Map');
});
