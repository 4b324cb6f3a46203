// The lifecycle interceptors: where kubelet's calls meet placement and state. Decisions run one
// at a time (the store's turn), so two creates can never both take the same free CPU.
//
// Order of effects on CreateContainer (the README documents it):
//   1. place, 2. checkpoint the allocation (keyed "pending:…" until the runtime names the
//   container), 3. shrink the cpusets of running shared containers when the new allocation is
//   exclusive, 4. forward the create with cpuset_cpus/cpuset_mems written in, 5. on the answer,
//   bind the allocation to the container id or release it (both in memory, see below).
//   The decision reaches the relay as the checkpoint write of step 2 starts; the relay prepares
//   the create meanwhile and holds it until steps 2 and 3 are done (the decision's `ready`).
//   kubelet gets the answer as step 5 is queued on the store's turn, without waiting for it;
//   a start or update of a container the state does not know yet waits for the binds in flight,
//   so a start always sees its create's bind. Stops, removes and pod calls likewise answer
//   before their bookkeeping, which takes its turn before any later decision.
//   The bind is made in memory and written with the next checkpoint (the next decision, or the
//   periodic reconcile at the latest): one fsync per create, not two, and none per stop or
//   remove, whose releases are made the same way (see release). A crash before that write
//   leaves the allocation pending in the checkpoint; reconcile at start releases every pending
//   allocation and then adopts the container, which the runtime lists, with the cpuset it was
//   created with: the allocation's. Nothing leaks and no CPU gets two exclusive owners (tested:
//   "a crash before the bind is on disk").
//   StartContainer applies the container's recorded cpuset first when the runtime may hold an
//   older one (a shared pool that changed since the create, an update that failed).
//   Shared containers are updated BEFORE the create is forwarded: the new container cannot run
//   before kubelet starts it, but doing it first means no shared container ever runs on a CPU
//   the state already calls exclusive. An update that fails is logged and retried at the next
//   reconcile; the create still goes ahead (one wedged container must not block every pod).
// Failures inside the daemon: a CreateContainer the daemon cannot decide on fails with INTERNAL
// (the relay's answer to a throw) rather than running unplaced: an unplaced container would run
// on every CPU, including other containers' exclusive ones, and kubelet retries the create.
// Stop, Remove and pod calls never fail because of the daemon: an error is logged and the call
// goes through unchanged; the periodic reconcile releases whatever is left.
// kubelet's UpdateContainerResources is forwarded with every field it sets except the cpuset,
// which stays the daemon's.
import { randomUUID } from 'node:crypto';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import type { Policy } from '../config/types.js';
import { finalUpdates, type CpusetApplier } from '../state/apply-updates.js';
import { pendingKey, withAdmission, withBinding, withPod, withoutPod } from '../state/changes.js';
import type { PlacementEngine, RuntimePort } from '../state/ports.js';
import { withReleases } from '../state/releases.js';
import type { AllocationStore } from '../state/store.js';
import type { Allocation } from '../placement/types.js';
import type { CpuSet } from '../topology/cpuset.js';
import type { UnaryMethod } from './methods.js';
import type { CreateContainerRequest, CreateContainerResponse } from './gen/runtime/v1/api_pb.js';
import { GrpcStatus, defineInterceptor, runtimeMethods, type GrpcError, type InterceptDecision, type Interceptor, type Interceptors } from './relay.js';
import { checkRuntimeId, cpusetOverridesForCreate, cpusetOverridesForUpdate } from './rewrite.js';
import { containerRequestOf, podRecordOf } from './pods.js';

export interface LifecycleDeps {
  readonly store: AllocationStore;
  readonly engine: PlacementEngine;
  readonly applier: CpusetApplier;
  readonly runtime: Pick<RuntimePort, 'sandboxExists'>;
  readonly policy: () => Policy;
  readonly log: Logger;
  /** Asks for a light reconcile soon: a create whose outcome is unknown may exist anyway. */
  readonly requestReconcile: () => void;
}

type CreateDecision = InterceptDecision<CreateContainerRequest, CreateContainerResponse>;

/** Answers after which the runtime may or may not have created the container. */
const uncertainCodes: ReadonlySet<number> = new Set([GrpcStatus.CANCELLED, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.UNAVAILABLE, GrpcStatus.UNKNOWN, GrpcStatus.INTERNAL]);

export function createLifecycle(deps: LifecycleDeps): Interceptors {
  const { store, engine, applier, log } = deps;
  /** What each in-flight create was sent with: an update while pending is applied after the bind. */
  const sent = new Map<string, { readonly cpus: CpuSet; readonly mems: CpuSet }>();
  /** Binds of creates already answered, still queued on the store's turn. */
  const binds = new Set<Promise<void>>();

  /**
   * kubelet may start or update a new container before its create's bind is made: a call for a
   * container the state does not know waits for the binds in flight. Calls for known containers
   * never wait.
   */
  async function afterBinds(id: string): Promise<void> {
    if (binds.size > 0 && !store.snapshot.allocations.has(id)) await Promise.allSettled(binds);
  }

  /**
   * A decision's info line, built and written once the call has moved on: a line costs about
   * 0.2 ms (measured), which kubelet would otherwise wait for twice on every create. Lines logged
   * this way keep their order among themselves.
   */
  function logDecision(message: string, fields: () => object): void {
    setImmediate(() => log.info(fields(), message));
  }

  /**
   * Releases containers (a stop, a remove, a failed create) and grows the shared pool. The
   * release is made in memory and written with the next checkpoint: a crash that loses it only
   * keeps the CPUs held until the restart's reconcile, which releases what exited or is gone
   * before kubelet is served again. Nothing can take them meanwhile.
   */
  async function release(ids: readonly string[], reason: string): Promise<void> {
    const { snapshot: next, updates, released } = withReleases(store.snapshot, engine, ids.map((id) => ({ id, reason })), store.now());
    store.stage(next);
    const final = finalUpdates(updates, next.allocations);
    for (const id of released) logDecision('released', () => ({ container: id, reason, sharedUpdates: final.length }));
    await applier.apply(final);
  }

  /**
   * Runs `work` on the store's turn and answers with the decision it hands to `decide`, which may
   * come before the turn ends: a create's decision goes to the relay while its checkpoint is still
   * being written (the decision's `ready`), and the turn lasts until that write is done. A throw
   * before the decision answers the call INTERNAL; after it, only `ready` can fail, and the relay
   * answers that.
   */
  function decideInTurn<Decision>(work: (decide: (decision: Decision) => void) => Promise<void>): Promise<Decision> {
    return new Promise((resolve, reject) => {
      let decided = false;
      const decide = (decision: Decision): void => {
        decided = true;
        resolve(decision);
      };
      store.run(() => work(decide)).then(
        () => (decided ? undefined : reject(new Error('the create ended without a decision'))),
        (error: unknown) => (decided ? undefined : reject(error)),
      );
    });
  }

  /** Never lets a daemon failure block a stop or remove: logs and forwards unchanged. */
  function guarded(method: string, decide: () => Promise<void>): Promise<void> {
    return store.run(decide).catch((error: unknown) => {
      log.error({ method, err: (error as Error).message }, 'lifecycle bookkeeping failed; the call went through unchanged, the next reconcile catches up');
    });
  }

  /**
   * A stop or remove, forwarded unchanged; once the runtime has done it (or never had the
   * container or sandbox), the bookkeeping runs, guarded.
   */
  function afterRemoval<Req extends DescMessage, Res extends DescMessage>(
    method: UnaryMethod<Req, Res>,
    bookkeeping: (request: MessageShape<Req>) => Promise<void>,
  ): [string, Interceptor] {
    const name = method.path.slice(method.path.lastIndexOf('/') + 1);
    return defineInterceptor(method, (request) => ({
      forward: request,
      afterResponse: async (result) => {
        if (!result.ok && result.error.code !== GrpcStatus.NOT_FOUND) return;
        await guarded(name, () => bookkeeping(request));
      },
    }));
  }

  /** A sandbox the daemon never saw: ask the runtime (a create there would only place and release). */
  async function sandboxMayExist(id: string): Promise<boolean> {
    try {
      return await deps.runtime.sandboxExists(id);
    } catch (error) {
      log.warn({ sandbox: id, err: (error as Error).message }, 'cannot ask the runtime about an unknown pod sandbox; placing the create anyway');
      return true;
    }
  }

  function containersOfSandbox(sandboxId: string): string[] {
    return [...store.snapshot.containers.values()].filter((record) => record.sandboxId === sandboxId).map((record) => record.id);
  }

  return new Map([
    defineInterceptor(runtimeMethods.RunPodSandbox, (request) => ({
      forward: request,
      afterResponse: async (result) => {
        if (!result.ok || request.config === undefined) return;
        const pod = podRecordOf(result.response.podSandboxId, request.config);
        await guarded('RunPodSandbox', async () => {
          await store.commit(withPod(store.snapshot, pod));
          log.info({ sandbox: pod.id, namespace: pod.namespace, pod: pod.name, qos: pod.qos }, 'pod recorded');
        });
      },
    })),

    defineInterceptor(runtimeMethods.CreateContainer, (request) =>
      decideInTurn<CreateDecision>(async (decide) => {
        const sandbox = checkRuntimeId(request.podSandboxId, 'sandbox');
        if (!sandbox.ok) return decide({ reject: { code: GrpcStatus.INVALID_ARGUMENT, message: `cri-rebalancer: ${sandbox.message}` } });
        if (!store.snapshot.pods.has(request.podSandboxId) && !(await sandboxMayExist(request.podSandboxId))) {
          return decide({ reject: { code: GrpcStatus.NOT_FOUND, message: `cri-rebalancer: pod sandbox "${request.podSandboxId}" does not exist in the runtime; run the pod sandbox first` } });
        }
        const containerRequest = containerRequestOf(request, store.snapshot.pods.get(request.podSandboxId));
        const key = pendingKey(randomUUID());
        const placed = engine.place(store.snapshot.allocations, key, containerRequest);
        const who = { namespace: containerRequest.namespace, pod: containerRequest.pod, container: containerRequest.container, qos: containerRequest.qos };
        if (!placed.ok) {
          const { rejection } = placed;
          log.info({ ...who, rejected: rejection.reason, requested: rejection.requested, available: rejection.available }, `rejected: ${rejection.message}`);
          const reject: GrpcError = {
            code: GrpcStatus.RESOURCE_EXHAUSTED,
            message: `cri-rebalancer cannot place ${containerRequest.namespace}/${containerRequest.pod}/${containerRequest.container}: ${rejection.message}`,
          };
          return decide({ reject });
        }
        const { allocation, allocations, updates } = placed.decision;
        // The write starts here (the addon's thread); what follows runs meanwhile, and the relay
        // prepares the call while it waits for `ready`.
        const committed = store.commit(
          withAdmission(store.snapshot, {
            allocation,
            allocations,
            updates,
            container: { id: key, sandboxId: request.podSandboxId, name: containerRequest.container, phase: 'pending', since: store.now() },
            action: 'admit',
            at: store.now(),
          }),
        );
        sent.set(key, { cpus: allocation.cpus, mems: allocation.mems });
        // Written while the checkpoint flushes, before the create goes on: written after it, the
        // log's reader (the journal) woke while the runtime worked, and the wall clock of a
        // create+start was 0.4-1.8 points worse (bench:proxy-containerd, three runs).
        logDecision('placed', () => ({
          ...who,
          pool: allocation.pool,
          exclusive: allocation.exclusive,
          cpus: allocation.cpus.format(),
          mems: allocation.mems.format(),
          reasons: allocation.reasons,
          sharedUpdates: updates.length,
        }));
        const ready = committed.then(() => applier.apply(updates));
        decide({
          forward: request,
          overrides: cpusetOverridesForCreate(allocation.cpus, allocation.mems),
          ready,
          afterResponse: (result) => {
            const was = sent.get(key)!;
            sent.delete(key);
            const bind: Promise<void> = store.run(async () => {
              if (!result.ok) {
                await release([key], `the runtime failed the create: ${result.error.message}`);
                if (uncertainCodes.has(result.error.code)) deps.requestReconcile();
                return;
              }
              const checked = checkRuntimeId(result.response.containerId, 'container');
              if (!checked.ok) {
                await release([key], `the runtime answered with an unusable id: ${checked.message}`);
                deps.requestReconcile();
                return;
              }
              const id = checked.id;
              const allocations = engine.rename(store.snapshot.allocations, key, id);
              store.stage(withBinding(store.snapshot, allocations, key, id, store.now()));
              applier.record(id, was.cpus, was.mems);
              logDecision('created', () => ({ ...who, container: id }));
              const now = store.snapshot.allocations.get(id);
              if (now !== undefined && !applier.isApplied(now)) await applier.apply([{ id, cpus: now.cpus, mems: now.mems }]);
            }).finally(() => binds.delete(bind));
            binds.add(bind);
            return bind;
          },
        });
        await ready;
      }),
    ),

    defineInterceptor(runtimeMethods.StartContainer, async (request) => {
      const id = request.containerId;
      await afterBinds(id);
      // The common case costs nothing: the runtime holds what the state records.
      const recorded = store.snapshot.allocations.get(id);
      if (recorded !== undefined && !applier.isApplied(recorded)) {
        await store.run(async () => {
          const allocation = store.snapshot.allocations.get(id);
          if (allocation === undefined || applier.isApplied(allocation)) return;
          log.info({ container: id, cpus: allocation.cpus.format(), mems: allocation.mems.format() }, 'the runtime may hold an older cpuset; applying the recorded one before the start');
          await applier.apply([{ id, cpus: allocation.cpus, mems: allocation.mems }]);
        });
      }
      const startedWith = store.snapshot.allocations.get(id);
      if (startedWith === undefined) return { forward: request };
      return {
        forward: request,
        // The runtime reads the container's spec when the start begins: an update that lands
        // while the start is in flight changes the spec, not the task being started (seen with
        // containerd 1.6). A cpuset that changed meanwhile is applied again to the running task.
        afterResponse: async (result) => {
          const changed = (now: Allocation | undefined): now is Allocation =>
            now !== undefined && (!now.cpus.equals(startedWith.cpus) || !now.mems.equals(startedWith.mems));
          if (!result.ok || !changed(store.snapshot.allocations.get(id))) return;
          await store.run(async () => {
            const now = store.snapshot.allocations.get(id);
            if (!changed(now)) return;
            log.info({ container: id, cpus: now.cpus.format(), mems: now.mems.format() }, 'the cpuset changed while the container started; applying it to the running task');
            await applier.apply([{ id, cpus: now.cpus, mems: now.mems }]);
          });
        },
      };
    }),

    defineInterceptor(runtimeMethods.UpdateContainerResources, async (request) => {
      await afterBinds(request.containerId);
      const allocation = store.snapshot.allocations.get(request.containerId);
      if (allocation === undefined) return { forward: request };
      const asked = request.linux;
      if (asked !== undefined && (asked.cpusetCpus !== '' || asked.cpusetMems !== '')) {
        log.info({ container: request.containerId, asked: { cpus: asked.cpusetCpus, mems: asked.cpusetMems }, kept: { cpus: allocation.cpus.format(), mems: allocation.mems.format() } }, 'kept the daemon cpuset over the one kubelet asked for');
      }
      return { forward: request, overrides: cpusetOverridesForUpdate(allocation.cpus, allocation.mems) };
    }),

    afterRemoval(runtimeMethods.StopContainer, (request) => release([request.containerId], 'the container was stopped')),

    afterRemoval(runtimeMethods.RemoveContainer, (request) => release([request.containerId], 'the container was removed')),

    afterRemoval(runtimeMethods.StopPodSandbox, (request) => release(containersOfSandbox(request.podSandboxId), 'its pod sandbox was stopped')),

    afterRemoval(runtimeMethods.RemovePodSandbox, async (request) => {
      await release(containersOfSandbox(request.podSandboxId), 'its pod sandbox was removed');
      // Like a release: reconcile forgets pods the runtime no longer has.
      store.stage(withoutPod(store.snapshot, request.podSandboxId));
    }),
  ]);
}
