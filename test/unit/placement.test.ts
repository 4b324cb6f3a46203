// The placement rules, one table row or case per behaviour, over named generated topologies and
// the shared dumps of real machines. Expected CPU lists are worked out by hand from each
// machine's numbering (see test/fixtures/specs.ts and the dumps' NOTES.md).
import t from 'tap';
import {
  adoptContainer,
  placeContainer,
  releaseContainer,
  renameContainer,
  replaceContainer,
  reservedCpus,
  sharedPool,
} from '../../src/placement/engine.js';
import type { Allocation, Allocations, ContainerRequest, PlacementResult } from '../../src/placement/types.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { coresOf, nodesOfCpus, wholeCoresOf } from '../../src/topology/queries.js';
import type { Topology } from '../../src/topology/types.js';
import type { Policy } from '../../src/config/types.js';
import { epycEightNode, pmemIsolated, sncFourNode, twoSocket448, xeonGold6132, armQuirks } from '../fixtures/specs.js';
import { dumpTopology, guaranteed, noSharedDumps, policyWith, request, specTopology } from './placement-topologies.js';

const GiB = 1024 ** 3;
const xeon = specTopology(xeonGold6132);
const defaults = policyWith();

function placed(result: PlacementResult): Allocation & { allocations: Allocations; updates: PlacementResultUpdates } {
  if (!result.ok) throw new Error(`expected a placement, got ${result.rejection.reason}: ${result.rejection.message}`);
  return { ...result.decision.allocation, allocations: result.decision.allocations, updates: result.decision.updates };
}
type PlacementResultUpdates = Extract<PlacementResult, { ok: true }>['decision']['updates'];

/** Admits the requests in order; returns the allocations and the last decision. */
function admit(topology: Topology, policy: Policy, requests: readonly ContainerRequest[], allocations: Allocations = new Map()) {
  let current = allocations;
  let last: ReturnType<typeof placed> | null = null;
  requests.forEach((one, index) => {
    last = placed(placeContainer(topology, policy, current, `c${current.size + index}-${index}`, one));
    current = last.allocations;
  });
  return { allocations: current, last: last! };
}

t.test('rule 2: exclusive CPUs from one node, whole cores, best fit', async (t) => {
  const rows: { name: string; topology: Topology; before: number[]; cpus: number; expect: string; reason: RegExp }[] = [
    { name: 'xeon 4 CPUs: two whole cores on node 0', topology: xeon, before: [], cpus: 4, expect: '0-1,28-29', reason: /on NUMA node 0.*2 whole cores of 2/ },
    { name: 'xeon 3 CPUs: a whole core and one thread', topology: xeon, before: [], cpus: 3, expect: '0-1,28', reason: /1 whole core of 2/ },
    { name: 'xeon 1 CPU after 3: the free sibling of the split core', topology: xeon, before: [3], cpus: 1, expect: '29', reason: /node 0/ },
    { name: 'xeon best fit: node 0 has 8 left, node 1 28: 4 CPUs go to node 0', topology: xeon, before: [20], cpus: 4, expect: '10-11,38-39', reason: /best fit: 8/ },
    { name: 'xeon 14 CPUs on the fuller node when it still fits', topology: xeon, before: [14], cpus: 14, expect: '7-13,35-41', reason: /node 0/ },
    { name: 'xeon 30 CPUs: no node fits, both nodes', topology: xeon, before: [], cpus: 30, expect: '0-14,28-42', reason: /across NUMA nodes 0-1/ },
    { name: 'snc 24 CPUs span the two nodes of one die', topology: specTopology(sncFourNode), before: [], cpus: 24, expect: '0-11,40-51', reason: /within one die/ },
    { name: '448: 64 CPUs on node 0', topology: specTopology(twoSocket448), before: [], cpus: 64, expect: '0-31,224-255', reason: /on NUMA node 0/ },
    { name: '448: 200 CPUs span one die (nodes 0-1)', topology: specTopology(twoSocket448), before: [], cpus: 200, expect: '0-99,224-323', reason: /within one die/ },
    { name: 'epyc 6 CPUs: 3 cores of one L3 (CCX)', topology: specTopology(epycEightNode), before: [], cpus: 6, expect: '0-5', reason: /1 L3 cache/ },
    { name: 'epyc 8 CPUs: one node, both CCXs', topology: specTopology(epycEightNode), before: [], cpus: 8, expect: '0-7', reason: /2 L3 caches/ },
    { name: 'epyc 2 CPUs after 6: the other CCX has room, best fit there', topology: specTopology(epycEightNode), before: [6], cpus: 2, expect: '6-7', reason: /node 0/ },
    { name: 'arm without SMT: 1 CPU went to the 3-core L2 cluster (best fit), 3 CPUs fill the 4-core one', topology: specTopology(armQuirks), before: [1], cpus: 3, expect: '0-2', reason: /node 0/ },
  ];
  for (const row of rows) {
    const { allocations } = admit(row.topology, defaults, row.before.map((cpus) => guaranteed(cpus)));
    const got = placed(placeContainer(row.topology, defaults, allocations, 'new', guaranteed(row.cpus)));
    t.equal(got.cpus.format(), row.expect, row.name);
    t.match(got.reasons.join('\n'), row.reason, `${row.name}: reason`);
    t.ok(got.exclusive, `${row.name}: exclusive`);
    t.same(got.mems, nodesOfCpus(row.topology, got.cpus), `${row.name}: memory with the CPUs`);
  }
});

t.test('rule 2: the real 4-socket 144-CPU machine and the SNC PMEM machine', { skip: noSharedDumps }, async (t) => {
  const fourSocket = (await dumpTopology('intel-xeon-4s-18c-ht'))!;
  const one = placed(placeContainer(fourSocket, defaults, new Map(), 'a', guaranteed(18)));
  t.equal(one.cpus.format(), '0-8,72-80', '18 CPUs: 9 whole cores of socket 0');
  const wide = placed(placeContainer(fourSocket, defaults, new Map(), 'a', guaranteed(80)));
  t.equal(nodesOfCpus(fourSocket, wide.cpus).size, 3, '80 CPUs need three of the 36-CPU nodes');
  t.equal(wholeCoresOf(fourSocket, wide.cpus).length, 40, 'all whole cores');

  const pmem = (await dumpTopology('intel-xeon-2s-snc2-28c-ht-pmem-isolated'))!;
  const four = placed(placeContainer(pmem, defaults, new Map(), 'a', guaranteed(4)));
  t.equal(four.cpus.format(), '0,8,56,64', 'node 0 is every 4th CPU; isolated 4 and 60 are skipped');
  t.equal(four.mems.format(), '0');
  const span = placed(placeContainer(pmem, defaults, new Map(), 'a', guaranteed(40)));
  t.same(nodesOfCpus(pmem, span.cpus).toArray(), [0, 2], 'SNC: two nodes of socket 0 (one die)');
  const isolated = placed(
    placeContainer(pmem, policyWith({ annotations: { isolatedCpusNamespaces: ['*'] } }), new Map(), 'a',
      guaranteed(2, { annotations: { 'cri-rebalancer.io/isolated-cpus': 'true' } })),
  );
  t.equal(isolated.pool, 'isolated');
  t.ok(isolated.cpus.isSubsetOf(CpuSet.parse('4-7,60-63')), 'isolated CPUs');
  t.equal(wholeCoresOf(pmem, isolated.cpus).length, 1, 'one whole isolated core');
});

t.test('rule 2: a node whose free whole cores hold the request beats a tighter fragmented one', async (t) => {
  let allocations: Allocations = new Map();
  for (let cpu = 0; cpu < 14; cpu++) {
    allocations = placed(adoptContainer(xeon, defaults, allocations, `one${cpu}`, guaranteed(1), CpuSet.of([cpu]), CpuSet.of([0]))).allocations;
  }
  const whole = placed(placeContainer(xeon, defaults, allocations, 'four', guaranteed(4)));
  t.equal(whole.cpus.format(), '14-15,42-43', 'node 0 has 14 free threads but no whole core');
  const single = placed(placeContainer(xeon, defaults, allocations, 'one', guaranteed(1)));
  t.equal(single.cpus.format(), '28', 'one thread needs no whole core: best fit, a fragment');
  const noPreference = placed(placeContainer(xeon, policyWith({ placement: { preferWholeCores: false } }), allocations, 'four', guaranteed(4)));
  t.equal(noPreference.cpus.format(), '28-31', 'without the preference: plain best fit');
});

t.test('rule 2: limits, minimum shared CPUs, the pool never empties, onInsufficient', async (t) => {
  const keepTwo = policyWith({ placement: { minSharedCpusPerNode: 2 } });
  const spans = placed(placeContainer(xeon, keepTwo, new Map(), 'a', guaranteed(27)));
  t.equal(nodesOfCpus(xeon, spans.cpus).size, 2, '27 > 28 - 2: spans both nodes');
  const fits = placed(placeContainer(xeon, keepTwo, new Map(), 'a', guaranteed(26)));
  t.equal(nodesOfCpus(xeon, fits.cpus).size, 1, '26 fits one node keeping 2 shared');

  const all = placeContainer(xeon, defaults, new Map(), 'a', guaranteed(56));
  t.notOk(all.ok);
  if (!all.ok) {
    t.equal(all.rejection.reason, 'insufficient-cpus');
    t.equal(all.rejection.requested, 56);
    t.equal(all.rejection.available, 55, 'the shared pool keeps one CPU');
    t.match(all.rejection.message, /asked for 56 exclusive CPUs, 55 can be given.*onInsufficient/);
  }
  const shared = placed(placeContainer(xeon, policyWith({ placement: { onInsufficient: 'shared' } }), new Map(), 'a', guaranteed(56)));
  t.equal(shared.pool, 'shared');
  t.match(shared.reasons.join('\n'), /runs in the shared pool \(placement.onInsufficient: shared\)/);
  t.equal(shared.cpus.format(), '0-55', 'a 56-CPU limit fits no node: the whole pool');

  const off = placed(placeContainer(xeon, policyWith({ placement: { exclusiveCpus: false } }), new Map(), 'a', guaranteed(2)));
  t.equal(off.pool, 'shared');
  t.match(off.reasons.join('\n'), /exclusiveCpus is off/);

  const loose = placed(placeContainer(xeon, policyWith({ placement: { preferWholeCores: false } }), admit(xeon, defaults, [guaranteed(1)]).allocations, 'b', guaranteed(2)));
  t.equal(loose.cpus.format(), '1,29', 'without whole-core preference: the lowest free thread, then one sharing its L2');
});

t.test('rule 1: reserved CPUs serve system pods only', async (t) => {
  const byCount = policyWith({ reserved: { count: 3 } });
  t.equal(reservedCpus(xeon, byCount).format(), '0-1,28', 'whole cores first, node 0 first');
  const byList = policyWith({ reserved: { cpus: '0-1,99' } });
  t.equal(reservedCpus(xeon, byList).format(), '0-1', 'a listed CPU that is not online is left out');

  const system = placed(placeContainer(xeon, byCount, new Map(), 'dns', guaranteed(2, { namespace: 'kube-system' })));
  t.equal(system.pool, 'reserved');
  t.equal(system.cpus.format(), '0-1,28');
  t.notOk(system.exclusive);
  t.match(system.reasons[0], /rule 1: namespace kube-system is a system namespace/);

  const isolatedAsk = placed(placeContainer(xeon, policyWith({ reserved: { count: 2 }, annotations: { isolatedCpusNamespaces: ['*'] } }), new Map(), 'x',
    guaranteed(1, { namespace: 'kube-system', annotations: { 'cri-rebalancer.io/isolated-cpus': 'true' } })));
  t.equal(isolatedAsk.pool, 'reserved');
  t.match(isolatedAsk.reasons.join('\n'), /annotation cri-rebalancer.io\/isolated-cpus ignored: system pods/);

  const user = placed(placeContainer(xeon, byCount, new Map(), 'app', guaranteed(2)));
  t.notOk(user.cpus.intersects(reservedCpus(xeon, byCount)), 'exclusive CPUs avoid the reserved ones');
  const burst = placed(placeContainer(xeon, byCount, new Map(), 'b', request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 60000 })));
  t.notOk(burst.cpus.intersects(reservedCpus(xeon, byCount)), 'the shared pool excludes the reserved CPUs');

  const noReserve = placed(placeContainer(xeon, defaults, new Map(), 'dns', guaranteed(2, { namespace: 'kube-system' })));
  t.equal(noReserve.pool, 'exclusive', 'without reserved CPUs a system pod is placed like any other');
  t.match(noReserve.reasons[0], /the policy reserves no CPUs/);
});

t.test('rule 3: shared containers pin to the node with the most free shared capacity', async (t) => {
  const burstable = (limit: number | null, requestMilli = 500) =>
    request({ qos: 'Burstable', cpuRequestMilli: requestMilli, cpuLimitMilli: limit });
  const first = placed(placeContainer(xeon, defaults, new Map(), 'a', burstable(2000)));
  t.equal(first.pinnedNode, 0);
  t.equal(first.cpus.format(), '0-13,28-41');
  const second = placed(placeContainer(xeon, defaults, first.allocations, 'b', burstable(2000)));
  t.equal(second.pinnedNode, 1, 'node 0 carries 500m already');
  const wide = placed(placeContainer(xeon, defaults, second.allocations, 'c', burstable(40000)));
  t.equal(wide.pinnedNode, undefined);
  t.equal(wide.cpus.format(), '0-55', 'a 40-CPU limit fits no node: the whole pool');
  t.match(wide.reasons.join('\n'), /fits no single node/);
  const byRequest = placed(placeContainer(xeon, defaults, new Map(), 'd', burstable(null, 30000)));
  t.equal(byRequest.pinnedNode, undefined, 'without a limit the request decides');
  const unpinned = placed(placeContainer(xeon, policyWith({ placement: { pinSharedToNode: false } }), new Map(), 'e', burstable(1000)));
  t.equal(unpinned.cpus.format(), '0-55');
  t.match(unpinned.reasons.join('\n'), /pinSharedToNode is off/);
  const fractional = placed(placeContainer(xeon, defaults, new Map(), 'f', guaranteed(1.5)));
  t.equal(fractional.pool, 'shared', 'fractional Guaranteed runs shared');
});

t.test('rule 3: exclusive decisions list every shared container whose cpuset changes', async (t) => {
  const { allocations } = admit(xeon, defaults, [
    request({ qos: 'Burstable', cpuRequestMilli: 500, cpuLimitMilli: 1000 }), // pinned to node 0
    request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 1000 }), // pinned to node 1
    request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 40000 }), // whole pool
  ]);
  const ids = [...allocations.keys()];
  const exclusive = placed(placeContainer(xeon, defaults, allocations, 'g', guaranteed(4)));
  t.same(
    exclusive.updates.map((update) => [update.id, update.cpus.format(), update.mems.format()]),
    [
      [ids[0], '2-13,30-41', '0'],
      [ids[2], '2-27,30-55', '0-1'],
    ],
    'the node-0 container and the whole-pool one; the node-1 one stays',
  );
  for (const update of exclusive.updates) t.same(exclusive.allocations.get(update.id)!.cpus, update.cpus, 'allocations follow the updates');

  const released = releaseContainer(xeon, defaults, exclusive.allocations, 'g');
  t.same(released.released?.cpus.format(), '0-1,28-29', 'releasing returns what was held');
  t.same(released.updates.map((update) => [update.id, update.cpus.format()]), [[ids[0], '0-13,28-41'], [ids[2], '0-55']]);
  t.same([...released.allocations.values()].map((a) => a.cpus.format()), [...allocations.values()].map((a) => a.cpus.format()));

  const unknown = releaseContainer(xeon, defaults, allocations, 'nope');
  t.equal(unknown.released, null);
  t.equal(unknown.allocations, allocations);

  const shared = releaseContainer(xeon, defaults, allocations, ids[0]!);
  t.same(shared.updates, [], 'releasing a shared container moves nobody');

  const filled = placed(placeContainer(xeon, defaults, allocations, 'h', guaranteed(28)));
  const moved = filled.allocations.get(ids[0]!)!;
  t.equal(moved.pinnedNode, undefined, 'node 0 lost every shared CPU: its pinned container moves to the pool');
  t.equal(moved.cpus.format(), '14-27,42-55');
  t.match(moved.reasons.at(-1), /node 0 has no shared CPU left/);
  t.ok(moved.mems.has(0) && moved.mems.has(1), 'its memory stays reachable and follows the CPUs');
});

t.test('rule 4: memory follows the CPUs and widens to the nearest nodes', async (t) => {
  const pmem = specTopology(pmemIsolated);
  const small = placed(placeContainer(pmem, defaults, new Map(), 'a', guaranteed(2, { memoryLimitBytes: 16 * GiB })));
  t.equal(small.mems.format(), '0');
  const wider = placed(placeContainer(pmem, defaults, new Map(), 'b', guaranteed(2, { memoryLimitBytes: 40 * GiB })));
  t.equal(wider.mems.format(), '0-1', 'node 1 is nearest (11)');
  t.match(wider.reasons.join('\n'), /memory widened to nodes 0-1/);
  const huge = placed(placeContainer(pmem, defaults, new Map(), 'c', guaranteed(2, { memoryLimitBytes: 80 * GiB })));
  t.equal(huge.mems.format(), '0-2', 'DRAM nodes only: 0 and 1 (64 GiB) then node 2 (21)');
  const withPmem = placed(placeContainer(pmem, policyWith({ placement: { memoryOnlyNodes: true } }), new Map(), 'd', guaranteed(2, { memoryLimitBytes: 80 * GiB })));
  t.equal(withPmem.mems.format(), '0-1,4', 'PMEM node 4 (17) is nearer than node 2 (21)');
  const annotated = guaranteed(2, { memoryLimitBytes: 80 * GiB, namespace: 'batch', annotations: { 'cri-rebalancer.io/memory-only-nodes': 'true' } });
  const allowed = placed(placeContainer(pmem, policyWith({ annotations: { memoryOnlyNodesNamespaces: ['batch'] } }), new Map(), 'e', annotated));
  t.equal(allowed.mems.format(), '0-1,4');
  const refused = placed(placeContainer(pmem, defaults, new Map(), 'f', annotated));
  t.equal(refused.mems.format(), '0-2');
  t.match(refused.reasons.join('\n'), /memory-only-nodes ignored: namespace batch/);
  const all = placed(placeContainer(pmem, defaults, new Map(), 'g', guaranteed(2, { memoryLimitBytes: 1024 * GiB })));
  t.match(all.reasons.join('\n'), /memory is overcommitted/);

  const committed = admit(pmem, defaults, [guaranteed(2, { memoryLimitBytes: 30 * GiB })]).allocations;
  const next = placed(placeContainer(pmem, defaults, committed, 'h', guaranteed(2, { memoryLimitBytes: 8 * GiB })));
  t.equal(next.mems.format(), '0-1', 'node 0 has 2 GiB left after the first 30 GiB');
});

t.test('rule 5: annotations', async (t) => {
  const pmem = specTopology(pmemIsolated);
  const asks = { 'cri-rebalancer.io/isolated-cpus': 'true' };
  const allowed = policyWith({ annotations: { isolatedCpusNamespaces: ['rt'] } });
  const isolated = placed(placeContainer(pmem, allowed, new Map(), 'a', guaranteed(2, { namespace: 'rt', annotations: asks })));
  t.equal(isolated.pool, 'isolated');
  t.equal(isolated.cpus.format(), '2,18', 'a whole isolated core');
  const more = placeContainer(pmem, allowed, isolated.allocations, 'b', guaranteed(3, { namespace: 'rt', annotations: asks }));
  t.notOk(more.ok);
  if (!more.ok) t.same([more.rejection.reason, more.rejection.requested, more.rejection.available], ['insufficient-isolated-cpus', 3, 2]);

  const notAllowed = placed(placeContainer(pmem, allowed, new Map(), 'c', guaranteed(2, { namespace: 'web', annotations: asks })));
  t.equal(notAllowed.pool, 'exclusive');
  t.notOk(notAllowed.cpus.intersects(CpuSet.parse('2-3,18-19')), 'never isolated CPUs');
  t.match(notAllowed.reasons.join('\n'), /isolated-cpus ignored: namespace web is not in annotations.isolatedCpusNamespaces/);

  const fractional = placed(placeContainer(pmem, allowed, new Map(), 'd', guaranteed(0.5, { namespace: 'rt', annotations: asks })));
  t.equal(fractional.pool, 'shared');
  t.match(fractional.reasons.join('\n'), /need a Guaranteed container with an integer CPU request/);

  const optOut = placed(placeContainer(pmem, defaults, new Map(), 'e', guaranteed(2, { annotations: { 'cri-rebalancer.io/shared-cpus': 'true' } })));
  t.equal(optOut.pool, 'shared');
  t.match(optOut.reasons[0], /opts this Guaranteed container out of exclusive CPUs/);
  t.notOk(sharedPool(pmem, defaults, new Map()).intersects(CpuSet.parse('2-3,18-19')), 'isolated CPUs are not shared');
});

t.test('rule 6: determinism and duplicates', async (t) => {
  const { allocations } = admit(xeon, defaults, [guaranteed(3), request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 500 })]);
  const once = placeContainer(xeon, defaults, allocations, 'x', guaranteed(5));
  const again = placeContainer(xeon, policyWith(), new Map(allocations), 'x', guaranteed(5));
  const entries = (result: PlacementResult) => (result.ok ? [result.decision.allocation, result.decision.updates, [...result.decision.allocations]] : result);
  t.same(entries(again), entries(once), 'the same inputs (equal, not identical objects) give the same decision');
  const dup = placeContainer(xeon, defaults, placed(once).allocations, 'x', guaranteed(1));
  t.notOk(dup.ok);
  if (!dup.ok) t.equal(dup.rejection.reason, 'duplicate-container');
});

t.test('renameContainer re-keys an allocation, as a Map delete and set would', async (t) => {
  const { allocations } = admit(xeon, defaults, [guaranteed(2), request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 1000 })]);
  const [first, second] = [...allocations.keys()];
  const renamed = renameContainer(xeon, defaults, allocations, first!, 'runtime-id');
  t.same([...renamed.keys()], [second, 'runtime-id']);
  t.equal(renamed.get('runtime-id')!.id, 'runtime-id');
  t.same(renamed.get('runtime-id')!.cpus, allocations.get(first!)!.cpus);
  t.same(sharedPool(xeon, defaults, renamed), sharedPool(xeon, defaults, allocations), 'the same CPUs held');
  t.equal(renameContainer(xeon, defaults, allocations, 'nobody', 'x'), allocations, 'unknown id: unchanged');
  t.equal(renameContainer(xeon, defaults, allocations, first!, second!), allocations, 'taken id: unchanged');
});

t.test('replaceContainer moves a container onto a target', async (t) => {
  const { allocations } = admit(xeon, defaults, [request({ qos: 'Burstable', cpuRequestMilli: 100, cpuLimitMilli: 1000 })]);
  const shared = [...allocations.keys()][0]!;
  const start = placed(placeContainer(xeon, defaults, allocations, 'g', guaranteed(2)));
  const target = { cpus: CpuSet.parse('14,42'), mems: CpuSet.parse('1') };
  const moved = placed(replaceContainer(xeon, defaults, start.allocations, 'g', target));
  t.equal(moved.cpus.format(), '14,42');
  t.match(moved.reasons.at(-1), /^moved: to CPUs 14,42 and memory nodes 1/);
  t.same(moved.updates.map((update) => [update.id, update.cpus.format()]), [[shared, '0-13,28-41']], 'node 0 gets its CPUs back');
  t.equal(placed(replaceContainer(xeon, defaults, moved.allocations, 'g', { cpus: CpuSet.parse('15,43'), mems: CpuSet.parse('1') })).reasons.filter((r) => r.startsWith('moved: ')).length, 1, 'one move reason');

  const invalid = (target: { cpus: string; mems: string }, id = 'g') => {
    const result = replaceContainer(xeon, defaults, start.allocations, id, { cpus: CpuSet.parse(target.cpus), mems: CpuSet.parse(target.mems) });
    return result.ok ? 'ok' : `${result.rejection.reason}: ${result.rejection.message}`;
  };
  t.match(invalid({ cpus: '14', mems: '1' }), /keeps that many/);
  t.match(invalid({ cpus: '14,42', mems: '0' }), /leave out node\(s\) 1/);
  t.match(invalid({ cpus: '14,42', mems: '1,9' }), /memory node 9 does not exist/);
  t.match(invalid({ cpus: '14,42', mems: '1' }, 'nobody'), /^unknown-container/);
  t.match(invalid({ cpus: '14-27,42-55', mems: '1' }, shared), /^ok/);
  const pinnedThere = replaceContainer(xeon, defaults, start.allocations, shared, { cpus: CpuSet.parse('14-27,42-55'), mems: CpuSet.parse('1') });
  t.equal(pinnedThere.ok && pinnedThere.decision.allocation.pinnedNode, 1, 'pinned to node 1 now');
  const toPool = replaceContainer(xeon, defaults, start.allocations, shared, { cpus: CpuSet.parse('1-27,29-55'), mems: CpuSet.parse('0-1') });
  t.equal(toPool.ok && toPool.decision.allocation.pinnedNode, undefined, 'the whole pool: not pinned');
  t.match(invalid({ cpus: '2-3', mems: '0' }, shared), /one node's shared CPUs or to the whole pool/);
  const other = placed(placeContainer(xeon, defaults, start.allocations, 'h', guaranteed(2)));
  const taken = replaceContainer(xeon, defaults, other.allocations, 'h', { cpus: CpuSet.parse('0,28'), mems: CpuSet.parse('0') });
  t.match(taken.ok ? '' : taken.rejection.message, /CPU 0 is already exclusive to another container/);
  const reservedPolicy = policyWith({ reserved: { count: 2 } });
  const onReserved = placed(placeContainer(xeon, reservedPolicy, new Map(), 'r', guaranteed(1)));
  const intoReserved = replaceContainer(xeon, reservedPolicy, onReserved.allocations, 'r', { cpus: CpuSet.parse('0'), mems: CpuSet.parse('0') });
  t.match(intoReserved.ok ? '' : intoReserved.rejection.message, /CPU 0 is reserved/);
  const system = placed(placeContainer(xeon, reservedPolicy, new Map(), 's', guaranteed(1, { namespace: 'kube-system' })));
  const moveSystem = replaceContainer(xeon, reservedPolicy, system.allocations, 's', { cpus: CpuSet.parse('5'), mems: CpuSet.parse('0') });
  t.match(moveSystem.ok ? '' : moveSystem.rejection.message, /system pods stay/);
});

t.test('adoptContainer keeps safe CPUs and never double-allocates', async (t) => {
  const first = placed(placeContainer(xeon, defaults, new Map(), 'a', guaranteed(2)));
  const kept = placed(adoptContainer(xeon, defaults, first.allocations, 'b', guaranteed(2), CpuSet.parse('14,42'), CpuSet.parse('1')));
  t.equal(kept.pool, 'exclusive');
  t.equal(kept.cpus.format(), '14,42');
  const clash = placed(adoptContainer(xeon, defaults, first.allocations, 'c', guaranteed(2), CpuSet.parse('0,28'), CpuSet.parse('0')));
  t.equal(clash.pool, 'shared', 'CPUs already exclusive to a: adopted as shared');
  t.match(clash.reasons.join('\n'), /adopted in the shared pool instead of exclusive CPUs: CPU 0 is already exclusive/);
  t.equal(clash.pinnedNode, 0, 'on the node where it ran');
  t.notOk(clash.cpus.intersects(first.cpus));
  const wrongSize = placed(adoptContainer(xeon, defaults, first.allocations, 'd', guaranteed(4), CpuSet.parse('14,42'), CpuSet.parse('1')));
  t.match(wrongSize.reasons.join('\n'), /runs on 2 CPUs but requests 4/);
  const burst = placed(adoptContainer(xeon, defaults, first.allocations, 'e', request({ qos: 'Burstable', cpuRequestMilli: 100 }), CpuSet.parse('0-55'), CpuSet.parse('0-1')));
  t.equal(burst.cpus.format(), '14-27,42-55', 'ran on both nodes: placed by rule 3 (node 1 has the most free shared capacity)');
  const reservedPolicy = policyWith({ reserved: { count: 2 } });
  const system = placed(adoptContainer(xeon, reservedPolicy, new Map(), 'f', request({ namespace: 'kube-system' }), CpuSet.parse('0-55'), CpuSet.parse('0')));
  t.equal(system.pool, 'reserved');
  t.equal(system.cpus.format(), '0,28');
  const dup = adoptContainer(xeon, defaults, first.allocations, 'a', guaranteed(2), CpuSet.parse('14,42'), CpuSet.parse('1'));
  t.notOk(dup.ok);
});

t.test('the shared pool empty: shared containers are rejected with a reason', async (t) => {
  const topology = specTopology(armQuirks);
  const policy = policyWith({ reserved: { cpus: topology.online.format() } });
  const result = placeContainer(topology, policy, new Map(), 'a', request());
  t.notOk(result.ok);
  if (!result.ok) t.match(result.rejection.message, /shared pool is empty/);
  t.same(coresOf(topology, CpuSet.parse('0-3')).length, 4, 'no SMT on this machine');
});
