import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import t from 'tap';
import {
  ContainerState,
  ContainerStatusResponseSchema,
  CreateContainerRequestSchema,
  ListContainersResponseSchema,
  ListPodSandboxResponseSchema,
  PodSandboxState,
  PodSandboxStatusResponseSchema,
  RemoveContainerRequestSchema,
  RemovePodSandboxRequestSchema,
  RunPodSandboxRequestSchema,
  StopContainerRequestSchema,
  StartContainerRequestSchema,
  StopPodSandboxRequestSchema,
  UpdateContainerResourcesRequestSchema,
  type CreateContainerRequest,
} from '../../src/cri/gen/runtime/v1/api_pb.js';
import { createLifecycle } from '../../src/cri/lifecycle.js';
import { containerRequestOf } from '../../src/cri/pods.js';
import { GrpcStatus, runtimeMethods, type CallResult, type GrpcError, type InterceptDecision, type Interceptors } from '../../src/cri/relay.js';
import type { UnaryMethod } from '../../src/cri/methods.js';
import type { RuntimeClient } from '../../src/cri/runtime-client.js';
import { createRuntimePort, parseCgroupParentOfPath } from '../../src/cri/runtime-port.js';
import { AllocationMap } from '../../src/placement/allocation-map.js';
import { parseCheckpoint } from '../../src/state/codec.js';
import { reconcileWithRuntime } from '../../src/state/reconcile.js';
import { validateSnapshot } from '../../src/state/validate.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { daemonParts, twoNodeTopology, type DaemonParts } from '../helpers/daemon-fakes.js';
import { sentRequest } from '../helpers/sent-request.js';

const GiB = 1024n ** 3n;

function context(method: string) {
  return { method, metadata: {}, deadlineMs: null, signal: new AbortController().signal };
}

type Decision<Req extends DescMessage, Res extends DescMessage> = InterceptDecision<MessageShape<Req>, MessageShape<Res>>;

async function intercept<Req extends DescMessage, Res extends DescMessage>(
  interceptors: Interceptors,
  method: UnaryMethod<Req, Res>,
  request: MessageShape<Req>,
): Promise<Decision<Req, Res>> {
  const interceptor = interceptors.get(method.path)!;
  const decision = (await interceptor.intercept(request as never, context(method.path))) as unknown as Decision<Req, Res>;
  // As the relay does: a decision with `ready` is forwarded once that resolves.
  if ('forward' in decision) await decision.ready;
  return decision;
}

/** The whole call as the relay makes it: intercept, then the runtime's answer to afterResponse. */
async function call<Req extends DescMessage, Res extends DescMessage>(
  interceptors: Interceptors,
  method: UnaryMethod<Req, Res>,
  request: MessageShape<Req>,
  result: CallResult<MessageShape<Res>>,
): Promise<Decision<Req, Res>> {
  const decision = await intercept(interceptors, method, request);
  if ('forward' in decision) await decision.afterResponse?.(result);
  return decision;
}

function ok<Res extends DescMessage>(method: UnaryMethod<DescMessage, Res>, init: Record<string, unknown> = {}): CallResult<MessageShape<Res>> {
  return { ok: true, response: create(method.response, init as never) as MessageShape<Res> };
}

function failed(code: GrpcError['code'], message = 'boom'): CallResult<never> {
  return { ok: false, error: { code, message } };
}

const tiers = { Guaranteed: '/kubepods', Burstable: '/kubepods/burstable', BestEffort: '/kubepods/besteffort' } as const;

function sandboxConfig(pod: string, qos: keyof typeof tiers, namespace = 'default') {
  return { metadata: { name: pod, namespace, uid: `uid-${pod}` }, annotations: { team: 'a' }, linux: { cgroupParent: `${tiers[qos]}/poduid-${pod}` } };
}

function createRequest(pod: string, qos: keyof typeof tiers, cpuMilli: number, sandboxId = `sb-${pod}`): CreateContainerRequest {
  const limited = qos === 'Guaranteed';
  return create(CreateContainerRequestSchema, {
    podSandboxId: sandboxId,
    config: {
      metadata: { name: `${pod}-c` },
      linux: {
        resources: {
          cpuShares: BigInt(Math.max(2, Math.floor((cpuMilli * 1024) / 1000))),
          cpuPeriod: 100000n,
          cpuQuota: limited ? BigInt(cpuMilli * 100) : 0n,
          memoryLimitInBytes: limited ? GiB / 4n : 0n,
        },
      },
    },
    sandboxConfig: sandboxConfig(pod, qos),
  });
}

function setUp(placement: Partial<DaemonParts['policy']['placement']> = {}) {
  const parts = daemonParts(placement);
  const reconciles: number[] = [];
  const interceptors = createLifecycle({ ...parts, policy: () => parts.policy, requestReconcile: () => reconciles.push(1) });
  return { ...parts, interceptors, reconciles };
}

/** Resolves once every turn queued so far (a bind still being written, say) has settled. */
function settled(setup: { store: DaemonParts['store'] }): Promise<void> {
  return setup.store.run(async () => undefined);
}

/** Creates a container through the interceptors; resolves to the cpuset it was created with. */
async function createContainer(setup: ReturnType<typeof setUp>, request: CreateContainerRequest, id: string): Promise<string> {
  const decision = await call(setup.interceptors, runtimeMethods.CreateContainer, request, ok(runtimeMethods.CreateContainer, { containerId: id }));
  if (!('forward' in decision)) throw new Error(`rejected: ${decision.reject.message}`);
  await settled(setup);
  return sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpusetCpus;
}

t.test('RunPodSandbox records the pod with its QoS class after the runtime ran it', async (t) => {
  const setup = setUp();
  const request = create(RunPodSandboxRequestSchema, { config: sandboxConfig('web', 'Burstable', 'shop') });
  const decision = await call(setup.interceptors, runtimeMethods.RunPodSandbox, request, ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb1' }));
  t.equal('forward' in decision && decision.forward, request, 'forwarded unchanged');
  t.match(setup.store.snapshot.pods.get('sb1'), { namespace: 'shop', name: 'web', uid: 'uid-web', qos: 'Burstable', cgroupParent: '/kubepods/burstable/poduid-web', annotations: { team: 'a' } });
  const systemd = create(RunPodSandboxRequestSchema, { config: { ...sandboxConfig('db', 'Guaranteed'), linux: { cgroupParent: 'kubepods-besteffort-poduid_db.slice' } } });
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, systemd, ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb2' }));
  t.equal(setup.store.snapshot.pods.get('sb2')?.qos, 'BestEffort', 'systemd naming');
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, request, failed(GrpcStatus.UNKNOWN));
  t.equal(setup.store.snapshot.pods.size, 2, 'a failed run records nothing');
  t.match(setup.lines.at(-1), { msg: 'pod recorded', namespace: 'default', pod: 'db' });
});

t.test('a Guaranteed container gets an exclusive CPU; running shared containers shrink BEFORE the create goes out', async (t) => {
  const setup = setUp();
  const shared = await createContainer(setup, createRequest('burst', 'Burstable', 500), 'c-burst');
  t.ok(shared !== '', 'a burstable container gets the shared pool');
  t.equal(setup.store.snapshot.allocations.get('c-burst')?.pool, 'shared');

  const writesBefore = setup.file.writes;
  const decision = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('gold', 'Guaranteed', 1000));
  if (!('forward' in decision)) return t.fail('placed');
  // Before the create is forwarded: the allocation is checkpointed and the shared container updated.
  t.ok(setup.file.writes > writesBefore, 'checkpoint written before forwarding');
  const checkpoint = parseCheckpoint(setup.file.text!, 'f');
  if (!checkpoint.ok) return t.fail('checkpoint parses');
  const pending = [...checkpoint.snapshot.containers.values()].find((record) => record.phase === 'pending');
  t.ok(pending, 'the tentative allocation is in the checkpoint');
  const exclusive = sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpusetCpus;
  t.equal(checkpoint.snapshot.allocations.get(pending!.id)?.cpus.format(), exclusive);
  t.equal(exclusive.split(',').length, 1, 'one CPU');
  t.equal(setup.runtime.updates.length, 1, 'the shared container was updated');
  t.notOk(setup.runtime.updates[0]!.cpus.split(/[,-]/).includes(exclusive), 'off the exclusive CPU');
  t.equal(setup.runtime.updates[0]!.id, 'c-burst');
  t.not(sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpusetMems, '', 'mems written');
  t.equal(sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpuShares, 1024n, 'other resources kept');

  await decision.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: 'c-gold' }));
  const allocation = setup.store.snapshot.allocations.get('c-gold');
  t.match(allocation, { pool: 'exclusive', exclusive: true });
  t.equal(setup.store.snapshot.containers.get('c-gold')?.phase, 'created');
  t.notOk([...setup.store.snapshot.allocations.keys()].some((id) => id.startsWith('pending:')), 'bound');
  t.ok(setup.store.snapshot.allocations instanceof AllocationMap, "bound through the engine: its map is kept, not copied into a plain Map");
  await new Promise((resolve) => setImmediate(resolve)); // decision lines are written once the call moved on
  const placed = setup.lines.find((line) => line.msg === 'placed' && line.pod === 'gold');
  t.match(placed, { level: 30, pool: 'exclusive', qos: 'Guaranteed', reasons: Array, sharedUpdates: 1 }, 'one info line with the reasons');
});

t.test('releasing grows the shared pool again', async (t) => {
  const setup = setUp();
  await createContainer(setup, createRequest('burst', 'Burstable', 500), 'c-burst');
  const poolBefore = setup.store.snapshot.allocations.get('c-burst')!.cpus.format();
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  setup.runtime.updates = [];
  await call(setup.interceptors, runtimeMethods.StopContainer, create(StopContainerRequestSchema, { containerId: 'c-gold' }), ok(runtimeMethods.StopContainer));
  t.notOk(setup.store.snapshot.allocations.has('c-gold'));
  t.same(setup.runtime.updates, [{ id: 'c-burst', cpus: poolBefore, mems: setup.store.snapshot.allocations.get('c-burst')!.mems.format() }]);
  t.match(setup.store.snapshot.history.filter((entry) => entry.container === 'c-gold').map((entry) => entry.action), ['admit', 'bind', 'release']);
  // RemoveContainer of an already released container changes nothing; NOT_FOUND releases too.
  await call(setup.interceptors, runtimeMethods.RemoveContainer, create(RemoveContainerRequestSchema, { containerId: 'c-gold' }), ok(runtimeMethods.RemoveContainer));
  await call(setup.interceptors, runtimeMethods.RemoveContainer, create(RemoveContainerRequestSchema, { containerId: 'c-burst' }), failed(GrpcStatus.NOT_FOUND));
  t.equal(setup.store.snapshot.allocations.size, 0);
  await createContainer(setup, createRequest('x', 'Burstable', 100), 'c-x');
  await call(setup.interceptors, runtimeMethods.StopContainer, create(StopContainerRequestSchema, { containerId: 'c-x' }), failed(GrpcStatus.UNAVAILABLE));
  t.ok(setup.store.snapshot.allocations.has('c-x'), 'a stop that failed keeps the CPUs');
});

t.test('pod sandbox stop and removal release every container of the pod', async (t) => {
  const setup = setUp();
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, create(RunPodSandboxRequestSchema, { config: sandboxConfig('p', 'Guaranteed') }), ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb-p' }));
  await createContainer(setup, createRequest('p', 'Guaranteed', 1000), 'c1');
  await createContainer(setup, createRequest('p', 'Burstable', 200), 'c2');
  await createContainer(setup, createRequest('q', 'Burstable', 200), 'c3');
  await call(setup.interceptors, runtimeMethods.StopPodSandbox, create(StopPodSandboxRequestSchema, { podSandboxId: 'sb-p' }), failed(GrpcStatus.INTERNAL));
  t.equal(setup.store.snapshot.allocations.size, 3, 'a failed stop releases nothing');
  await call(setup.interceptors, runtimeMethods.StopPodSandbox, create(StopPodSandboxRequestSchema, { podSandboxId: 'sb-p' }), ok(runtimeMethods.StopPodSandbox));
  t.same([...setup.store.snapshot.allocations.keys()], ['c3']);
  t.ok(setup.store.snapshot.pods.has('sb-p'), 'the pod is known until removed');
  await call(setup.interceptors, runtimeMethods.RemovePodSandbox, create(RemovePodSandboxRequestSchema, { podSandboxId: 'sb-p' }), failed(GrpcStatus.UNAVAILABLE));
  t.ok(setup.store.snapshot.pods.has('sb-p'));
  await call(setup.interceptors, runtimeMethods.RemovePodSandbox, create(RemovePodSandboxRequestSchema, { podSandboxId: 'sb-p' }), ok(runtimeMethods.RemovePodSandbox));
  t.notOk(setup.store.snapshot.pods.has('sb-p'));
  await call(setup.interceptors, runtimeMethods.RemovePodSandbox, create(RemovePodSandboxRequestSchema, { podSandboxId: 'sb-q' }), failed(GrpcStatus.NOT_FOUND));
  t.same([...setup.store.snapshot.allocations.keys()], [], 'NOT_FOUND: the pod is gone, its containers too');
});

t.test('when CPUs run out: reject with RESOURCE_EXHAUSTED, or run shared and say why', async (t) => {
  const rejecting = setUp({ onInsufficient: 'reject' });
  const decision = await intercept(rejecting.interceptors, runtimeMethods.CreateContainer, createRequest('huge', 'Guaranteed', 4000));
  t.ok('reject' in decision);
  if (!('reject' in decision)) return;
  t.equal(decision.reject.code, GrpcStatus.RESOURCE_EXHAUSTED);
  t.match(decision.reject.message, /cannot place default\/huge\/huge-c: asked for 4 exclusive CPUs, 3 can be given.*placement\.onInsufficient: shared/);
  t.equal(rejecting.store.snapshot.allocations.size, 0, 'nothing held');
  t.match(rejecting.lines.at(-1), { msg: /^rejected: /, rejected: 'insufficient-cpus', requested: 4, available: 3 });

  const sharing = setUp({ onInsufficient: 'shared' });
  await createContainer(sharing, createRequest('huge', 'Guaranteed', 4000), 'c-huge');
  const allocation = sharing.store.snapshot.allocations.get('c-huge')!;
  t.equal(allocation.pool, 'shared');
  t.match(allocation.reasons.join(' '), /onInsufficient: shared/);
});

t.test('a create the runtime fails releases its CPUs; an unclear answer asks for a reconcile', async (t) => {
  const setup = setUp();
  await call(setup.interceptors, runtimeMethods.CreateContainer, createRequest('gold', 'Guaranteed', 1000), failed(GrpcStatus.INVALID_ARGUMENT, 'bad image'));
  t.equal(setup.store.snapshot.allocations.size, 0);
  t.equal(setup.reconciles.length, 0);
  t.match(setup.store.snapshot.history.at(-1), { action: 'release', reasons: ['the runtime failed the create: bad image'] });
  await call(setup.interceptors, runtimeMethods.CreateContainer, createRequest('gold', 'Guaranteed', 1000), failed(GrpcStatus.DEADLINE_EXCEEDED));
  t.equal(setup.store.snapshot.allocations.size, 0);
  t.equal(setup.reconciles.length, 1, 'the container may exist: reconcile adopts it');
  await call(setup.interceptors, runtimeMethods.CreateContainer, createRequest('gold', 'Guaranteed', 1000), ok(runtimeMethods.CreateContainer, { containerId: '../../etc' }));
  t.equal(setup.store.snapshot.allocations.size, 0, 'an id that is not an id is never stored');
  t.equal(setup.reconciles.length, 2);
});

t.test('ids with path characters are refused before anything is decided', async (t) => {
  const setup = setUp();
  const decision = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('x', 'Guaranteed', 1000, '../sb'));
  t.match(decision, { reject: { code: GrpcStatus.INVALID_ARGUMENT, message: /invalid sandbox id/ } });
  t.equal(setup.file.writes, 0);
});

t.test('a create in a pod sandbox the runtime does not have changes nothing', async (t) => {
  const setup = setUp();
  setup.runtime.missingSandboxIds.add('sb-ghost');
  const decision = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('ghost', 'Guaranteed', 1000));
  t.match(decision, { reject: { code: GrpcStatus.NOT_FOUND, message: /pod sandbox "sb-ghost" does not exist/ } });
  t.equal(setup.file.writes, 0, 'no checkpoint written');
  setup.runtime.failLists = new Error('runtime down');
  const placed = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('ghost', 'Guaranteed', 1000));
  t.ok('forward' in placed, 'when the runtime cannot say, the create is placed and forwarded');
  t.match(setup.lines.find((line) => line.level === 40), { msg: /cannot ask the runtime/ });
});

t.test("kubelet's UpdateContainerResources keeps the daemon's cpuset and applies the rest", async (t) => {
  const setup = setUp();
  const cpus = await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  const request = create(UpdateContainerResourcesRequestSchema, { containerId: 'c-gold', linux: { cpusetCpus: '0-3', cpuShares: 2048n, memoryLimitInBytes: GiB } });
  const decision = await intercept(setup.interceptors, runtimeMethods.UpdateContainerResources, request);
  if (!('forward' in decision)) return t.fail('forwarded');
  t.equal(sentRequest(UpdateContainerResourcesRequestSchema, decision).linux?.cpusetCpus, cpus);
  t.equal(sentRequest(UpdateContainerResourcesRequestSchema, decision).linux?.cpuShares, 2048n);
  t.equal(sentRequest(UpdateContainerResourcesRequestSchema, decision).linux?.memoryLimitInBytes, GiB);
  t.match(setup.lines.at(-1), { msg: /kept the daemon cpuset/, asked: { cpus: '0-3' } });
  const unknown = create(UpdateContainerResourcesRequestSchema, { containerId: 'other', linux: { cpusetCpus: '0-3' } });
  const passed = await intercept(setup.interceptors, runtimeMethods.UpdateContainerResources, unknown);
  t.equal('forward' in passed && passed.forward, unknown, 'an unknown container: forwarded as sent');
  const noCpuset = create(UpdateContainerResourcesRequestSchema, { containerId: 'c-gold', linux: { cpuShares: 4n } });
  const kept = await intercept(setup.interceptors, runtimeMethods.UpdateContainerResources, noCpuset);
  if (!('forward' in kept)) return t.fail('forwarded');
  t.equal(sentRequest(UpdateContainerResourcesRequestSchema, kept).linux?.cpusetCpus, cpus);
});

t.test('concurrent creates are decided one at a time: no CPU twice', async (t) => {
  const setup = setUp();
  const decisions = await Promise.all(
    ['a', 'b', 'c'].map((pod) => intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest(pod, 'Guaranteed', 1000))),
  );
  const cpus = decisions.map((decision) => ('forward' in decision ? sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpusetCpus : 'rejected'));
  t.equal(new Set(cpus).size, 3, `distinct CPUs: ${cpus.join(' ')}`);
  t.notOk(cpus.includes('rejected'));
  await Promise.all(decisions.map((decision, index) => ('forward' in decision ? decision.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: `c${index}` })) : undefined)));
  t.same([...setup.store.snapshot.allocations.keys()].sort(), ['c0', 'c1', 'c2']);
  const fourth = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('d', 'Guaranteed', 1000));
  t.ok('reject' in fourth, 'the shared pool keeps one CPU');
});

t.test('a shared create pending while an exclusive one shrinks the pool gets its cpuset right after it is created', async (t) => {
  const setup = setUp();
  const shared = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('burst', 'Burstable', 100));
  if (!('forward' in shared)) return t.fail('placed');
  const sentCpus = sentRequest(CreateContainerRequestSchema, shared).config!.linux!.resources!.cpusetCpus;
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  const goldCpu = setup.store.snapshot.allocations.get('c-gold')!.cpus.format();
  t.equal(setup.runtime.updates.length, 0, 'nothing to update yet: the shared container does not exist');
  await shared.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: 'c-burst' }));
  t.ok(setup.store.snapshot.allocations.has('c-burst'), 'bound in memory when kubelet gets the answer');
  await settled(setup);
  const now = setup.store.snapshot.allocations.get('c-burst')!.cpus.format();
  if (sentCpus.split(/[,-]/).includes(goldCpu) || sentCpus !== now) {
    t.same(setup.runtime.updates, [{ id: 'c-burst', cpus: now, mems: setup.store.snapshot.allocations.get('c-burst')!.mems.format() }]);
  } else {
    t.same(setup.runtime.updates, [], 'its cpuset did not change');
  }
  t.notOk(now.split(/[,-]/).includes(goldCpu));
});

t.test('a stop writes nothing: its release reaches the disk with the next checkpoint, and a crash before that loses nothing', async (t) => {
  const setup = setUp();
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  const writes = setup.file.writes;
  await call(setup.interceptors, runtimeMethods.StopContainer, create(StopContainerRequestSchema, { containerId: 'c-gold' }), ok(runtimeMethods.StopContainer));
  t.notOk(setup.store.snapshot.allocations.has('c-gold'), 'released in memory');
  t.equal(setup.file.writes, writes, 'no fsync for the release');
  const onDisk = parseCheckpoint(setup.file.text!, 'f');
  if (!onDisk.ok) return t.fail('parses');
  const podsOf = (snapshot: typeof onDisk.snapshot) => [...snapshot.allocations.values()].map((allocation) => allocation.request.pod);
  t.same(podsOf(onDisk.snapshot), ['gold'], 'its CPU still held on disk: crash now');
  const restarted = daemonParts({}, onDisk.snapshot);
  restarted.runtime.containers = [{ id: 'c-gold', sandboxId: 'sb-gold', name: 'gold-c', state: 'exited' }];
  const summary = await reconcileWithRuntime(restarted, { atStart: true, nowMs: Date.parse('2026-01-01T00:00:01Z') });
  t.equal(summary.released.length, 1);
  t.equal(restarted.store.snapshot.allocations.size, 0, 'the restart releases it before serving kubelet');

  await createContainer(setup, createRequest('next', 'Guaranteed', 1000), 'c-next');
  const later = parseCheckpoint(setup.file.text!, 'f');
  t.same(later.ok && podsOf(later.snapshot), ['next'], 'the release is written with the next decision');
});

t.test('bookkeeping that fails never blocks a pod call; a create it cannot checkpoint fails', async (t) => {
  const setup = setUp();
  setup.file.failNext = new Error('disk full');
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, create(RunPodSandboxRequestSchema, { config: sandboxConfig('web', 'Burstable') }), ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb-web' }));
  t.match(setup.lines.at(-1), { level: 50, method: 'RunPodSandbox', err: 'disk full' });
  setup.file.failNext = new Error('disk full');
  await t.rejects(intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('x', 'Burstable', 100)), /disk full/, 'the relay answers INTERNAL');
});

t.test('a failed shared update is retried with the current cpuset; a vanished container is left to reconcile', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  await createContainer(setup, createRequest('b1', 'Burstable', 100), 'c-b1');
  await createContainer(setup, createRequest('b2', 'Burstable', 100), 'c-b2');
  setup.runtime.failUpdates.set('c-b1', GrpcStatus.UNAVAILABLE);
  setup.runtime.failUpdates.set('c-b2', GrpcStatus.NOT_FOUND);
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  t.same(setup.runtime.updates, []);
  const retries = setup.applier.takeRetries(setup.store.snapshot);
  t.same(retries.map((update) => update.id), ['c-b1'], 'only the one that may still run');
  t.same(setup.applier.takeRetries(setup.store.snapshot), [], 'taken once');
  t.ok(setup.lines.some((line) => line.msg.startsWith('container gone before its cpuset update')));
});

t.test('StartContainer applies the recorded cpuset first when the runtime may hold an older one', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  await createContainer(setup, createRequest('burst', 'Burstable', 100), 'c-burst');
  const start = (id: string) => intercept(setup.interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: id }));
  t.ok('forward' in (await start('c-burst')), 'forwarded');
  t.same(setup.runtime.updates, [], 'created with its cpuset: nothing to apply');
  setup.runtime.failUpdates.set('c-burst', GrpcStatus.UNAVAILABLE);
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  t.same(setup.runtime.updates, [], 'the shrink did not reach the runtime');
  const recorded = setup.store.snapshot.allocations.get('c-burst')!;
  t.ok('forward' in (await start('c-burst')));
  t.same(setup.runtime.updates, [{ id: 'c-burst', cpus: recorded.cpus.format(), mems: recorded.mems.format() }], 'applied before the start went out');
  await start('c-burst');
  await start('not-ours');
  t.equal(setup.runtime.updates.length, 1, 'once; a container the daemon does not place is left alone');
  t.ok(setup.lines.some((line) => /older cpuset; applying the recorded one before the start/.test(line.msg)));
});

t.test('kubelet has the create answer before the bind is made; a start right after still sees the bind', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, create(RunPodSandboxRequestSchema, { config: sandboxConfig('burst', 'Burstable') }), ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb-burst' }));
  const created = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('burst', 'Burstable', 100));
  if (!('forward' in created)) return t.fail('forwarded');
  // As the relay does: the answer goes out and afterResponse is called in the same turn, not awaited.
  const binding = created.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: 'c-burst' }));
  t.notOk(setup.store.snapshot.allocations.has('c-burst'), 'the bind waits for its turn');
  const started = await intercept(setup.interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: 'c-burst' }));
  t.ok(setup.store.snapshot.allocations.has('c-burst'), 'the start waited for it');
  t.ok('forward' in started && started.afterResponse !== undefined, 'and treats the container as placed');
  await binding;
  const updated = await intercept(setup.interceptors, runtimeMethods.UpdateContainerResources, create(UpdateContainerResourcesRequestSchema, { containerId: 'c-burst' }));
  t.ok('forward' in updated && updated.overrides !== undefined, 'an update keeps the daemon cpuset');
});

t.test('only a start of a container the state does not know waits for the binds in flight', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  await createContainer(setup, createRequest('old', 'Burstable', 100), 'c-old');
  const created = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('new', 'Burstable', 100));
  if (!('forward' in created)) return t.fail('forwarded');
  let unblock = (): void => undefined;
  const busy = setup.store.run(() => new Promise<void>((resolve) => (unblock = resolve)));
  const binding = created.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: 'c-new' }));
  const start = (id: string) => intercept(setup.interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: id }));
  const later = new Promise((resolve) => setTimeout(() => resolve('waiting'), 20));
  t.equal(await Promise.race([start('c-old').then(() => 'answered'), later]), 'answered', 'a known container: no wait behind the busy store');
  const startNew = start('c-new');
  t.equal(await Promise.race([startNew.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 20))]), 'waiting', 'the new one waits for its bind');
  unblock();
  await Promise.all([busy, binding, startNew]);
  t.ok(setup.store.snapshot.allocations.has('c-new'));
});

t.test('a cpuset that changes while a start is in flight is applied again to the running task', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  await createContainer(setup, createRequest('burst', 'Burstable', 100), 'c-burst');
  const started = await intercept(setup.interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: 'c-burst' }));
  if (!('forward' in started)) return t.fail('forwarded');
  // While the runtime starts it, an exclusive create shrinks the pool: that update can land in
  // the spec after the runtime read it, so the task would start on the old cpuset.
  await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  const shrunk = setup.store.snapshot.allocations.get('c-burst')!;
  t.equal(setup.runtime.updates.length, 1, 'the shrink went out during the start');
  await started.afterResponse?.(ok(runtimeMethods.StartContainer));
  t.same(setup.runtime.updates.at(-1), { id: 'c-burst', cpus: shrunk.cpus.format(), mems: shrunk.mems.format() }, 'applied again once the task runs');
  t.equal(setup.runtime.updates.length, 2);
  t.ok(setup.lines.some((line) => /changed while the container started/.test(line.msg)));
  const quiet = await intercept(setup.interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: 'c-burst' }));
  if ('forward' in quiet) await quiet.afterResponse?.(ok(runtimeMethods.StartContainer));
  t.equal(setup.runtime.updates.length, 2, 'nothing changed during this start: nothing applied');
});

t.test('a known pod sandbox costs no runtime round trip on create', async (t) => {
  const setup = setUp();
  await call(setup.interceptors, runtimeMethods.RunPodSandbox, create(RunPodSandboxRequestSchema, { config: sandboxConfig('web', 'Burstable') }), ok(runtimeMethods.RunPodSandbox, { podSandboxId: 'sb-web' }));
  await createContainer(setup, createRequest('web', 'Burstable', 100), 'c-web');
  t.equal(setup.runtime.sandboxQueries, 0, 'the pod recorded at RunPodSandbox is enough');
  await createContainer(setup, createRequest('other', 'Burstable', 100), 'c-other');
  t.equal(setup.runtime.sandboxQueries, 1, 'only an unknown sandbox is asked about');
});

t.test('a crash before the bind is on disk: reconcile adopts the container with the CPUs it was created with', async (t) => {
  const setup = setUp();
  const decision = await intercept(setup.interceptors, runtimeMethods.CreateContainer, createRequest('gold', 'Guaranteed', 1000));
  if (!('forward' in decision)) return t.fail('placed');
  const sentCpus = sentRequest(CreateContainerRequestSchema, decision).config!.linux!.resources!.cpusetCpus;
  const writes = setup.file.writes;
  await decision.afterResponse?.(ok(runtimeMethods.CreateContainer, { containerId: 'c-gold' }));
  t.ok(setup.store.snapshot.allocations.has('c-gold'), 'kubelet has its answer and the bind is in memory');
  t.equal(setup.file.writes, writes, 'no fsync for the bind');
  const onDisk = parseCheckpoint(setup.file.text!, 'f');
  if (!onDisk.ok) return t.fail('parses');
  t.same([...onDisk.snapshot.containers.values()].map((record) => record.phase), ['pending'], 'the bind is not on disk yet: crash now');
  setup.runtime.containers = [{ id: 'c-gold', sandboxId: 'sb-gold', name: 'gold-c', state: 'created' }];
  await reconcileWithRuntime(setup, { atStart: false, nowMs: Date.parse('2026-01-01T00:00:01Z') });
  const later = parseCheckpoint(setup.file.text!, 'f');
  t.same(later.ok && [...later.snapshot.containers.keys()], ['c-gold'], 'the periodic reconcile writes it when nothing else did');

  const restarted = daemonParts({}, onDisk.snapshot);
  restarted.runtime.containers = [{ id: 'c-gold', sandboxId: 'sb-gold', name: 'gold-c', state: 'created' }];
  const cpus = CpuSet.parse(sentCpus);
  restarted.runtime.details.set('c-gold', { request: containerRequestOf(createRequest('gold', 'Guaranteed', 1000), undefined), cpus, mems: CpuSet.of([0]), cgroupParent: '/kubepods/poduid-gold' });
  const summary = await reconcileWithRuntime(restarted, { atStart: true, nowMs: Date.parse('2026-01-01T00:00:01Z') });
  t.same(summary.adopted, ['c-gold']);
  t.match(restarted.store.snapshot.allocations.get('c-gold'), { exclusive: true });
  t.equal(restarted.store.snapshot.allocations.get('c-gold')?.cpus.format(), sentCpus, 'on the CPU it was created with');
  t.equal(restarted.store.snapshot.allocations.size, 1, 'the pending allocation released: nothing leaks');
  t.equal(validateSnapshot(restarted.store.snapshot, twoNodeTopology, 'f'), null, 'no CPU with two exclusive owners');
});

t.test('SIGKILL after a pool shrink was checkpointed but before it reached the runtime: the restart repairs it', async (t) => {
  const setup = setUp({ pinSharedToNode: false });
  const burstCpus = await createContainer(setup, createRequest('burst', 'Burstable', 100), 'c-burst');
  setup.runtime.cpusets.set('c-burst', { cpus: CpuSet.parse(burstCpus), mems: CpuSet.of([0, 1]) });
  // The update is lost with the daemon: it never reaches the runtime.
  setup.runtime.failUpdates.set('c-burst', GrpcStatus.UNAVAILABLE);
  const goldCpus = await createContainer(setup, createRequest('gold', 'Guaranteed', 1000), 'c-gold');
  setup.runtime.cpusets.set('c-gold', { cpus: CpuSet.parse(goldCpus), mems: setup.store.snapshot.allocations.get('c-gold')!.mems });
  t.ok(CpuSet.parse(burstCpus).has(Number(goldCpus)), 'the runtime still has the shared container on the exclusive CPU');
  await setup.store.commit(setup.store.snapshot); // both binds on disk too (the next decision's checkpoint)
  const checkpoint = parseCheckpoint(setup.file.text!, 'f');
  if (!checkpoint.ok) return t.fail('parses');

  const restarted = daemonParts({ pinSharedToNode: false }, checkpoint.snapshot);
  restarted.runtime.cpusets = setup.runtime.cpusets;
  restarted.runtime.containers = [
    { id: 'c-burst', sandboxId: 'sb-burst', name: 'burst-c', state: 'created' },
    { id: 'c-gold', sandboxId: 'sb-gold', name: 'gold-c', state: 'running' },
  ];
  const summary = await reconcileWithRuntime(restarted, { atStart: true, nowMs: Date.parse('2026-01-01T00:00:01Z') });
  const recorded = restarted.store.snapshot.allocations.get('c-burst')!;
  t.same(summary.drifted, [{ id: 'c-burst', runtimeCpus: burstCpus, recordedCpus: recorded.cpus.format() }], 'found at start-up');
  t.notOk(restarted.runtime.cpusets.get('c-burst')!.cpus!.has(Number(goldCpus)), 'off the exclusive CPU before kubelet can start it');
  const interceptors = createLifecycle({ ...restarted, policy: () => restarted.policy, requestReconcile: () => undefined });
  const updates = restarted.runtime.updates.length;
  await intercept(interceptors, runtimeMethods.StartContainer, create(StartContainerRequestSchema, { containerId: 'c-burst' }));
  t.equal(restarted.runtime.updates.length, updates, 'the start needs no further update');
});

t.test('the request of a create comes from its sandbox config, else from the recorded pod', async (t) => {
  const request = createRequest('web', 'Guaranteed', 2000);
  t.match(containerRequestOf(request, undefined), { pod: 'web', namespace: 'default', container: 'web-c', qos: 'Guaranteed', cpuRequestMilli: 2000, cpuLimitMilli: 2000 });
  const bare = create(CreateContainerRequestSchema, { podSandboxId: 'sb', config: request.config });
  const pod = { id: 'sb', namespace: 'ns', name: 'p', uid: 'u', annotations: { x: 'y' }, qos: 'Burstable' as const, cgroupParent: '/kubepods/burstable/podu' };
  t.match(containerRequestOf(bare, pod), { pod: 'p', namespace: 'ns', qos: 'Burstable', annotations: { x: 'y' } });
  t.match(containerRequestOf(bare, undefined), { pod: '', namespace: '' });
});

t.test('the runtime port: lists, verbose status and updates through the runtime client', async (t) => {
  const notFound = { ok: false, error: { reason: 'not-found', code: GrpcStatus.NOT_FOUND, message: 'gone' } } as const;
  const down = { ok: false, error: { reason: 'unavailable', code: GrpcStatus.UNAVAILABLE, message: 'runtime down' } } as const;
  const spec = { runtimeSpec: { linux: { cgroupsPath: 'kubepods-burstable-podu1.slice:cri-containerd:c2', resources: { cpu: { shares: 512, cpus: '1-2', mems: '0' }, memory: { limit: 1024 } } } } };
  const statuses: Record<string, unknown> = {
    c1: {
      ok: true,
      value: create(ContainerStatusResponseSchema, {
        status: { resources: { linux: { cpuShares: 1024n, cpuQuota: 100000n, cpuPeriod: 100000n, memoryLimitInBytes: GiB, cpusetCpus: '3', cpusetMems: '1' } } },
        info: { info: JSON.stringify({ pid: 7, runtimeSpec: { linux: { cgroupsPath: '/kubepods/podu1/c1' } } }) },
      }),
    },
    c2: { ok: true, value: create(ContainerStatusResponseSchema, { status: {}, info: { info: JSON.stringify(spec) } }) },
    c3: { ok: true, value: create(ContainerStatusResponseSchema, { info: { info: 'not json' } }) },
    gone: notFound,
    broken: down,
  };
  const updates: unknown[] = [];
  let failLists = false;
  const client = {
    listPodSandbox: async () =>
      failLists ? down : { ok: true, value: create(ListPodSandboxResponseSchema, { items: [{ id: 'sb', metadata: { name: 'p', namespace: 'n', uid: 'u' }, annotations: { a: 'b' }, state: PodSandboxState.SANDBOX_NOTREADY }] }) },
    listContainers: async () => ({
      ok: true,
      value: create(ListContainersResponseSchema, {
        containers: [
          { id: 'c1', podSandboxId: 'sb', metadata: { name: 'app' }, state: ContainerState.CONTAINER_RUNNING },
          { id: 'c2', podSandboxId: 'sb', state: ContainerState.CONTAINER_EXITED },
        ],
      }),
    }),
    containerStatus: async (id: string) => statuses[id],
    podSandboxStatus: async (id: string) =>
      id === 'sb' ? { ok: true, value: create(PodSandboxStatusResponseSchema, { status: { id } }) } : id === 'bad/id' ? { ok: false, error: { reason: 'invalid-id', code: 3, message: 'x' } } : id === 'down' ? down : notFound,
    updateContainerResources: async (id: string, linux: unknown) => {
      updates.push({ id, linux });
      return id === 'gone' ? notFound : { ok: true, value: {} };
    },
  };
  const port = createRuntimePort(client as unknown as RuntimeClient);
  const [sandbox] = await port.listSandboxes();
  t.same(sandbox, { id: 'sb', namespace: 'n', name: 'p', uid: 'u', annotations: { a: 'b' }, ready: false });
  const containers = await port.listContainers();
  t.same(containers, [
    { id: 'c1', sandboxId: 'sb', name: 'app', state: 'running' },
    { id: 'c2', sandboxId: 'sb', name: '', state: 'exited' },
  ]);
  const c1 = await port.inspectContainer(containers[0]!, sandbox);
  t.match(c1, { request: { pod: 'p', namespace: 'n', container: 'app', qos: 'Guaranteed', cpuRequestMilli: 1000, cpuLimitMilli: 1000 }, cgroupParent: '/kubepods/podu1' });
  t.equal(c1?.cpus?.format(), '3');
  const c2 = await port.inspectContainer(containers[1]!, undefined);
  t.match(c2, { request: { pod: '', qos: 'Burstable', cpuRequestMilli: 500, memoryLimitBytes: 1024 }, cgroupParent: 'kubepods-burstable-podu1.slice' }, 'from the OCI spec when the status has no resources');
  t.equal(c2?.cpus?.format(), '1-2');
  t.match(await port.inspectContainer({ id: 'c3', sandboxId: 'sb', name: 'x', state: 'running' }, sandbox), { cpus: null, mems: null, cgroupParent: null });
  t.equal(await port.inspectContainer({ id: 'gone', sandboxId: 'sb', name: 'x', state: 'running' }, sandbox), null);
  await t.rejects(port.inspectContainer({ id: 'broken', sandboxId: 'sb', name: 'x', state: 'running' }, sandbox), { name: 'RuntimeCallError', code: GrpcStatus.UNAVAILABLE });
  t.same(await Promise.all(['sb', 'nope', 'bad/id'].map((id) => port.sandboxExists(id))), [true, false, false]);
  await t.rejects(port.sandboxExists('down'), /runtime down/);
  await port.updateCpuset('c1', CpuSet.of([2, 3]), CpuSet.of([1]));
  t.same(updates, [{ id: 'c1', linux: { cpusetCpus: '2-3', cpusetMems: '1' } }]);
  await t.rejects(port.updateCpuset('gone', CpuSet.of([1]), CpuSet.of([0])), { code: GrpcStatus.NOT_FOUND });
  t.equal((await port.readCpuset('c1'))?.cpus?.format(), '3', 'the cpuset from the plain status');
  t.equal((await port.readCpuset('c2'))?.cpus?.format(), '1-2', 'from the OCI spec when the status has no resources');
  t.equal(await port.readCpuset('gone'), null);
  await t.rejects(port.readCpuset('broken'), /runtime down/);
  failLists = true;
  await t.rejects(port.listSandboxes(), /runtime down/);
  t.equal(parseCgroupParentOfPath(''), null);
  t.equal(parseCgroupParentOfPath('c1'), null);
});
