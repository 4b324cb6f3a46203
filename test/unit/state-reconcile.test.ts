import t from 'tap';
import type { Allocation, ContainerRequest } from '../../src/placement/types.js';
import { finalUpdates } from '../../src/state/apply-updates.js';
import { pendingKey, withAdmission } from '../../src/state/changes.js';
import { parseCheckpoint } from '../../src/state/codec.js';
import type { RuntimeContainerSummary } from '../../src/state/ports.js';
import { planReconcile, reconcileWithRuntime } from '../../src/state/reconcile.js';
import { emptySnapshot, type StateSnapshot } from '../../src/state/types.js';
import { validateSnapshot } from '../../src/state/validate.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { daemonParts, twoNodeTopology } from '../helpers/daemon-fakes.js';

const since = '2026-01-01T00:00:00.000Z';
const nowMs = Date.parse(since) + 1000;

function request(container: string, qos: ContainerRequest['qos'], milli: number): ContainerRequest {
  return { pod: container, namespace: 'default', container, qos, cpuRequestMilli: milli, cpuLimitMilli: qos === 'Guaranteed' ? milli : null, memoryLimitBytes: qos === 'Guaranteed' ? 1 << 28 : null, annotations: {} };
}

function held(snapshot: StateSnapshot, id: string, cpus: string, phase: 'pending' | 'created' = 'created', at = since): StateSnapshot {
  const allocation: Allocation = { id, request: request(id, 'Guaranteed', 1000), cpus: CpuSet.parse(cpus), mems: CpuSet.of([0]), pool: 'exclusive', exclusive: true, reasons: ['r'] };
  return withAdmission(snapshot, {
    allocation,
    allocations: new Map(snapshot.allocations).set(id, allocation),
    updates: [],
    container: { id, sandboxId: 'sb', name: id, phase, since: at },
    action: 'admit',
    at,
  });
}

function running(id: string, state: RuntimeContainerSummary['state'] = 'running'): RuntimeContainerSummary {
  return { id, sandboxId: 'sb', name: id, state };
}

const sandbox = { id: 'sb', namespace: 'default', name: 'pod', uid: 'u', annotations: {}, ready: true };

t.test('the plan: forget what is gone or exited, adopt strangers, keep the rest', async (t) => {
  let snapshot = held(held(held(emptySnapshot, 'kept', '1'), 'gone', '2'), 'exited', '3');
  snapshot = held(snapshot, pendingKey('a'), '0', 'pending');
  snapshot = { ...snapshot, pods: new Map([['old-sb', { id: 'old-sb', namespace: 'n', name: 'p', uid: 'u', annotations: {}, qos: null, cgroupParent: '' }]]) };
  const view = {
    sandboxes: [sandbox],
    containers: [running('kept'), running('exited', 'exited'), running('stranger'), running('fresh', 'created'), running('dead', 'exited'), running('odd', 'unknown')],
  };
  const plan = planReconcile(snapshot, view, { atStart: true, nowMs });
  t.same(plan.release.map((item) => item.id), ['gone', 'exited', pendingKey('a')]);
  t.match(plan.release.find((item) => item.id === pendingKey('a'))?.reason, /in flight when the daemon stopped/);
  t.same(plan.adopt.map((container) => container.id), ['stranger', 'fresh']);
  t.same(plan.addPods.map((pod) => pod.id), ['sb']);
  t.same(plan.removePods, ['old-sb']);

  const running_ = planReconcile(snapshot, view, { atStart: false, nowMs });
  t.notOk(running_.release.some((item) => item.id === pendingKey('a')), 'a recent pending create is in flight');
  t.same(running_.adopt, [], 'nothing adopted while a create is in flight: its container may already be listed');
  const late = planReconcile(snapshot, view, { atStart: false, nowMs: nowMs + 10 * 60_000 });
  t.match(late.release.find((item) => item.id === pendingKey('a'))?.reason, /pending for more than 300 s/);
  t.same(late.adopt.map((container) => container.id), ['stranger', 'fresh']);

  const orphan = { ...held(emptySnapshot, 'o', '1'), containers: new Map() };
  t.same(planReconcile(orphan, { sandboxes: [], containers: [] }, { atStart: false, nowMs }).release.map((item) => item.id), ['o']);
});

t.test('reconcile adopts a stranger on its own CPU, and never gives a CPU to two exclusive owners', async (t) => {
  const parts = daemonParts({}, held(emptySnapshot, 'mine', '2'));
  parts.runtime.sandboxes = [sandbox];
  parts.runtime.containers = [running('mine'), running('free-one'), running('thief'), running('vanished')];
  parts.runtime.details.set('free-one', { request: request('free-one', 'Guaranteed', 1000), cpus: CpuSet.of([3]), mems: CpuSet.of([1]), cgroupParent: '/kubepods/podu' });
  parts.runtime.details.set('thief', { request: request('thief', 'Guaranteed', 1000), cpus: CpuSet.of([2]), mems: CpuSet.of([1]), cgroupParent: null });
  parts.runtime.details.set('vanished', null);
  const summary = await reconcileWithRuntime(parts, { atStart: true, nowMs });
  t.same(summary.adopted, ['free-one', 'thief']);
  const allocations = parts.store.snapshot.allocations;
  t.match(allocations.get('free-one'), { exclusive: true, pool: 'exclusive' });
  t.equal(allocations.get('free-one')?.cpus.format(), '3', 'kept where it runs');
  const thief = allocations.get('thief')!;
  t.equal(thief.pool, 'shared', 'conflicting: shared');
  t.match(thief.reasons.join(' '), /adopted in the shared pool instead of exclusive CPUs/);
  t.notOk(thief.cpus.has(2) || thief.cpus.has(3), 'off the exclusive CPUs');
  t.ok(parts.runtime.updates.some((update) => update.id === 'thief' && update.cpus === thief.cpus.format()), 'moved off the CPU it shared');
  t.notOk(parts.runtime.updates.some((update) => update.id === 'free-one'), 'already where it belongs');
  t.equal(validateSnapshot(parts.store.snapshot, twoNodeTopology, 'f'), null, 'no CPU with two exclusive owners');
  t.equal(parts.store.snapshot.pods.get('sb')?.cgroupParent, '/kubepods/podu', 'pod filled from the container');
  t.equal(parts.file.writes, 1, 'one checkpoint for the whole reconcile');
  t.match(parts.store.snapshot.history.filter((entry) => entry.action === 'adopt').map((entry) => entry.container), ['free-one', 'thief']);
});

t.test('reconcile releases what the runtime lost, and retries failed updates', async (t) => {
  const parts = daemonParts({}, held(held(emptySnapshot, 'a', '2'), 'b', '3'));
  parts.runtime.containers = [running('a', 'exited')];
  parts.runtime.failUpdates.set('x', 14);
  const summary = await reconcileWithRuntime(parts, { atStart: false, nowMs });
  t.same(summary.released, [
    { id: 'a', reason: 'the container exited' },
    { id: 'b', reason: 'the runtime no longer has this container' },
  ]);
  t.equal(parts.store.snapshot.allocations.size, 0);
  // Nothing to do: no checkpoint written.
  const writes = parts.file.writes;
  await reconcileWithRuntime(parts, { atStart: false, nowMs });
  t.equal(parts.file.writes, writes);
  parts.runtime.failLists = new Error('runtime down');
  await t.rejects(reconcileWithRuntime(parts, { atStart: false, nowMs }), /runtime down/);
});

t.test('a restart from the checkpoint reconciles to the same allocations, none doubled', async (t) => {
  const before = daemonParts({}, held(held(emptySnapshot, 'a', '2'), pendingKey('lost'), '3', 'pending'));
  await before.store.commit({ ...before.store.snapshot });
  const reloaded = parseCheckpoint(before.file.text!, 'f');
  if (!reloaded.ok) return t.fail('parses');
  const after = daemonParts({}, reloaded.snapshot);
  after.runtime.containers = [running('a'), running('created-before-crash', 'created')];
  // The create that was in flight did reach the runtime: it runs on the CPU it was sent with.
  after.runtime.details.set('created-before-crash', { request: request('c', 'Guaranteed', 1000), cpus: CpuSet.of([3]), mems: CpuSet.of([1]), cgroupParent: null });
  const summary = await reconcileWithRuntime(after, { atStart: true, nowMs });
  t.same(summary.released.map((item) => item.id), [pendingKey('lost')]);
  t.same(summary.adopted, ['created-before-crash']);
  t.equal(after.store.snapshot.allocations.get('created-before-crash')?.cpus.format(), '3');
  t.equal(after.store.snapshot.allocations.get('a')?.cpus.format(), '2');
  t.equal(validateSnapshot(after.store.snapshot, twoNodeTopology, 'f'), null);
});

t.test('cpuset updates go out once per container, with where it ends up', async (t) => {
  const parts = daemonParts({}, held(held(emptySnapshot, 'a', '2'), 'b', '3'));
  const allocations = parts.store.snapshot.allocations;
  const updates = [
    { id: 'a', cpus: CpuSet.of([0]), mems: CpuSet.of([0]) },
    { id: 'gone', cpus: CpuSet.of([0]), mems: CpuSet.of([0]) },
    { id: 'a', cpus: CpuSet.of([1]), mems: CpuSet.of([0]) },
  ];
  t.same(
    finalUpdates(updates, allocations).map((update) => [update.id, update.cpus.format()]),
    [['a', '2']],
    'the allocation decides; released containers are dropped',
  );
  t.equal(await parts.applier.apply([...updates, { id: pendingKey('p'), cpus: CpuSet.of([1]), mems: CpuSet.of([0]) }]), 2);
  t.same(parts.runtime.updates, [
    { id: 'a', cpus: '1', mems: '0' },
    { id: 'gone', cpus: '0', mems: '0' },
  ], 'the later update of a container wins; pending creates are skipped');
});

t.test('adopting a container that reports no cpuset weighs every CPU', async (t) => {
  const parts = daemonParts();
  const adopted = parts.engine.adopt(parts.store.snapshot.allocations, 'x', request('x', 'Guaranteed', 1000), null, null);
  t.ok(adopted.ok);
  if (!adopted.ok) return;
  t.equal(adopted.decision.allocation.pool, 'shared', 'not taken as owning one CPU exclusively');
  t.match(adopted.decision.allocation.reasons.join(' '), /runs on 4 CPUs but requests 1/);
  t.equal(parts.engine.reserved().format(), '');
  t.equal(parts.engine.sharedPool(parts.store.snapshot.allocations).format(), '0-3');
});

t.test('reconcile re-applies the recorded cpuset where the runtime holds another one', async (t) => {
  const parts = daemonParts({}, held(held(held(held(emptySnapshot, 'behind', '2'), 'same', '3'), 'none', '1'), pendingKey('p'), '0', 'pending'));
  parts.runtime.containers = [running('behind', 'created'), running('same'), running('none'), running('gone-meanwhile')];
  parts.runtime.cpusets.set('behind', { cpus: CpuSet.parse('0-3'), mems: CpuSet.of([0]) });
  parts.runtime.cpusets.set('same', { cpus: CpuSet.of([3]), mems: CpuSet.of([0]) });
  parts.runtime.cpusets.set('none', { cpus: null, mems: null });
  const summary = await reconcileWithRuntime(parts, { atStart: false, nowMs });
  t.same(summary.drifted, [
    { id: 'behind', runtimeCpus: '0-3', recordedCpus: '2' },
    { id: 'none', runtimeCpus: '', recordedCpus: '1' },
  ]);
  t.same(parts.runtime.updates, [
    { id: 'behind', cpus: '2', mems: '0' },
    { id: 'none', cpus: '1', mems: '0' },
  ], 'the recorded cpusets applied; the pending create and the container that matches left alone');
  t.ok(parts.applier.isApplied(parts.store.snapshot.allocations.get('same')!), 'a matching one is noted as applied');
  const again = await reconcileWithRuntime(parts, { atStart: false, nowMs });
  t.same(again.drifted, [], 'in line after the repair');
});
