// Bringing the state in line with what the runtime really runs. `planReconcile` decides, pure;
// `reconcileWithRuntime` lists, asks placement, checkpoints, then updates cpusets.
//   At start: creates that were in flight when the daemon stopped are forgotten (a container the
//   runtime did create shows up as unknown and is adopted with the cpuset it got), containers
//   that are gone or exited are released, running ones the daemon never saw are adopted.
//   Periodically (light): the same, except that in-flight creates are left alone unless they have
//   been pending far longer than any create takes, and nothing is adopted while a create is in
//   flight (its container may already be listed before its response arrives).
//   Both: every known live container's cpuset in the runtime is compared with the recorded one,
//   and the recorded one applied where they differ. A checkpoint is written before the cpuset
//   updates it implies go out, so a crash in between leaves the runtime behind the state (a
//   shared container still on CPUs an exclusive one got since); this is where that is repaired.
import type { PlacementEngine, RuntimeContainerSummary, RuntimePort, RuntimeSandboxSummary } from './ports.js';
import { withAdmission, withPod, withoutPod } from './changes.js';
import { withReleases, type ContainerRelease } from './releases.js';
import type { AllocationStore } from './store.js';
import type { CpusetUpdate } from '../placement/types.js';
import type { PodRecord, StateSnapshot } from './types.js';
import { finalUpdates, type CpusetApplier } from './apply-updates.js';

export interface ReconcilePlan {
  readonly release: readonly ContainerRelease[];
  /** Live containers the state does not know. */
  readonly adopt: readonly RuntimeContainerSummary[];
  readonly addPods: readonly RuntimeSandboxSummary[];
  readonly removePods: readonly string[];
}

export interface RuntimeView {
  readonly sandboxes: readonly RuntimeSandboxSummary[];
  readonly containers: readonly RuntimeContainerSummary[];
}

export interface ReconcileOptions {
  /** True at start-up: no create can be in flight, so every pending one is stale. */
  readonly atStart: boolean;
  /** Now, to age pending creates (ms since the epoch). */
  readonly nowMs: number;
  /** A create pending longer than this is taken as lost (kubelet's runtime timeout is 2 min). */
  readonly pendingTimeoutMs?: number;
}

const defaultPendingTimeoutMs = 5 * 60_000;

export function planReconcile(snapshot: StateSnapshot, view: RuntimeView, options: ReconcileOptions): ReconcilePlan {
  const timeoutMs = options.pendingTimeoutMs ?? defaultPendingTimeoutMs;
  const live = new Map(view.containers.map((container) => [container.id, container]));
  const release: ContainerRelease[] = [];
  let pendingInFlight = false;
  for (const record of snapshot.containers.values()) {
    if (record.phase === 'pending') {
      if (options.atStart) {
        release.push({ id: record.id, reason: 'its create was in flight when the daemon stopped; the runtime list decides whether it exists' });
      } else if (options.nowMs - Date.parse(record.since) > timeoutMs) {
        release.push({ id: record.id, reason: `its create has been pending for more than ${timeoutMs / 1000} s; the create was lost` });
      } else {
        pendingInFlight = true;
      }
      continue;
    }
    const container = live.get(record.id);
    if (container === undefined) release.push({ id: record.id, reason: 'the runtime no longer has this container' });
    else if (container.state === 'exited') release.push({ id: record.id, reason: 'the container exited' });
  }
  // Allocations without a container record (should not happen; never leak their CPUs).
  for (const id of snapshot.allocations.keys()) {
    if (!snapshot.containers.has(id) && !live.has(id)) release.push({ id, reason: 'no container record and no such container in the runtime' });
  }
  const adopt = pendingInFlight
    ? []
    : view.containers.filter((container) => !snapshot.allocations.has(container.id) && (container.state === 'running' || container.state === 'created'));
  const sandboxIds = new Set(view.sandboxes.map((sandbox) => sandbox.id));
  return {
    release,
    adopt,
    addPods: view.sandboxes.filter((sandbox) => !snapshot.pods.has(sandbox.id)),
    removePods: [...snapshot.pods.keys()].filter((id) => !sandboxIds.has(id)),
  };
}

export interface ReconcileDeps {
  readonly store: AllocationStore;
  readonly engine: PlacementEngine;
  readonly runtime: RuntimePort;
  readonly applier: CpusetApplier;
}

export interface ReconcileSummary {
  readonly released: readonly ContainerRelease[];
  readonly adopted: readonly string[];
  readonly podsAdded: number;
  readonly podsRemoved: number;
  /** Cpuset updates applied to running containers afterwards. */
  readonly updates: number;
  /** Known containers whose cpuset in the runtime differed from the recorded one (re-applied). */
  readonly drifted: readonly CpusetDrift[];
}

export interface CpusetDrift {
  readonly id: string;
  /** What the runtime held, as a cpulist ('' when it reported none: all CPUs). */
  readonly runtimeCpus: string;
  readonly recordedCpus: string;
}

/**
 * Reads the runtime's cpuset of every known live container; those that differ from `allocations`
 * are returned, the others noted as applied. Reads run in parallel: the turn stays short.
 */
async function findDrift(
  known: readonly string[],
  allocations: StateSnapshot['allocations'],
  runtime: Pick<RuntimePort, 'readCpuset'>,
  applier: CpusetApplier,
): Promise<CpusetDrift[]> {
  const drifted = await Promise.all(
    known.map(async (id): Promise<CpusetDrift | null> => {
      const allocation = allocations.get(id);
      const held = allocation === undefined ? null : await runtime.readCpuset(id);
      if (allocation === undefined || held === null) return null;
      if (held.cpus !== null && held.cpus.equals(allocation.cpus) && held.mems !== null && held.mems.equals(allocation.mems)) {
        applier.record(id, allocation.cpus, allocation.mems);
        return null;
      }
      return { id, runtimeCpus: held.cpus?.format() ?? '', recordedCpus: allocation.cpus.format() };
    }),
  );
  return drifted.filter((drift) => drift !== null);
}

function podOf(sandbox: RuntimeSandboxSummary, cgroupParent: string | null): PodRecord {
  return {
    id: sandbox.id,
    namespace: sandbox.namespace,
    name: sandbox.name,
    uid: sandbox.uid,
    annotations: sandbox.annotations,
    qos: null,
    cgroupParent: cgroupParent ?? '',
  };
}

/** Lists the runtime, applies the plan to the state (checkpointed), then fixes cpusets. */
export async function reconcileWithRuntime(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileSummary> {
  const { store, engine, runtime } = deps;
  return store.run(async () => {
    const [sandboxes, containers] = await Promise.all([runtime.listSandboxes(), runtime.listContainers()]);
    const plan = planReconcile(store.snapshot, { sandboxes, containers }, options);
    const at = store.now();
    const releases = withReleases(store.snapshot, engine, plan.release, at);
    let next = releases.snapshot;
    const updates: CpusetUpdate[] = [...releases.updates];
    for (const sandbox of plan.addPods) next = withPod(next, podOf(sandbox, null));
    for (const id of plan.removePods) next = withoutPod(next, id);
    const adopted: string[] = [];
    const bySandbox = new Map(sandboxes.map((sandbox) => [sandbox.id, sandbox]));
    for (const container of plan.adopt) {
      const sandbox = bySandbox.get(container.sandboxId);
      const detail = await runtime.inspectContainer(container, sandbox);
      if (detail === null) continue;
      const adoption = engine.adopt(next.allocations, container.id, detail.request, detail.cpus, detail.mems);
      if (!adoption.ok) continue;
      const decision = adoption.decision;
      next = withAdmission(next, {
        allocation: decision.allocation,
        allocations: decision.allocations,
        updates: decision.updates,
        container: { id: container.id, sandboxId: container.sandboxId, name: container.name, phase: 'created', since: at },
        action: 'adopt',
        at,
      });
      if (sandbox !== undefined && detail.cgroupParent !== null && next.pods.get(sandbox.id)?.cgroupParent === '') {
        next = withPod(next, podOf(sandbox, detail.cgroupParent));
      }
      updates.push(...decision.updates);
      // Kept where it runs when that was safe; otherwise (a CPU another owns exclusively) moved.
      const { cpus, mems } = decision.allocation;
      if (detail.cpus === null || !detail.cpus.equals(cpus) || detail.mems === null || !detail.mems.equals(mems)) {
        updates.push({ id: container.id, cpus, mems });
      } else {
        deps.applier.record(container.id, cpus, mems);
      }
      adopted.push(container.id);
    }
    // Known containers only: adopted ones were just compared, pending ones have no container yet.
    const releasedIds = new Set(plan.release.map((item) => item.id));
    const known = containers
      .filter((container) => container.state !== 'exited' && store.snapshot.containers.get(container.id)?.phase === 'created' && !releasedIds.has(container.id))
      .map((container) => container.id);
    const drifted = await findDrift(known, next.allocations, runtime, deps.applier);
    for (const drift of drifted) {
      const allocation = next.allocations.get(drift.id)!;
      updates.push({ id: drift.id, cpus: allocation.cpus, mems: allocation.mems });
    }
    // At start always written: it proves the state directory writable before kubelet is served,
    // and replaces a checkpoint that --rebuild-state ignored.
    await store.commit(options.atStart ? { ...next } : next);
    // Inside the turn: a later decision's update must never be overtaken by this one.
    const applied = await deps.applier.apply([...finalUpdates(updates, next.allocations), ...deps.applier.takeRetries(next)]);
    return { released: plan.release, adopted, podsAdded: plan.addPods.length, podsRemoved: plan.removePods.length, updates: applied, drifted };
  });
}
