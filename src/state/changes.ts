// Pure transitions of the state snapshot. Each one takes the allocations the placement engine
// decided and records the change in the history, so `explain` can show admissions, moves and
// releases alike. The caller passes the time: nothing here reads the clock.
import type { Allocation, Allocations, CpusetUpdate } from '../placement/types.js';
import { historyLimit, historyPerContainerLimit, type ContainerRecord, type HistoryAction, type HistoryEntry, type PodRecord, type StateSnapshot } from './types.js';

/** The key of an allocation whose create is in flight. Runtime ids never hold ':': no collision. */
export function pendingKey(token: string): string {
  return `pending:${token}`;
}

export function isPendingKey(id: string): boolean {
  return id.startsWith('pending:');
}

function entryOf(allocation: Allocation, action: HistoryAction, at: string, reasons: readonly string[]): HistoryEntry {
  return { at, container: allocation.id, action, cpus: allocation.cpus, mems: allocation.mems, pool: allocation.pool, reasons };
}

/** The history with `entries` added, keeping the newest: per container, then overall. */
function appendHistory(history: readonly HistoryEntry[], entries: readonly HistoryEntry[]): readonly HistoryEntry[] {
  const all = [...history, ...entries];
  const perContainer = new Map<string, number>();
  const kept: HistoryEntry[] = [];
  for (let index = all.length - 1; index >= 0 && kept.length < historyLimit; index--) {
    const entry = all[index]!;
    const count = perContainer.get(entry.container) ?? 0;
    if (count === historyPerContainerLimit) continue;
    perContainer.set(entry.container, count + 1);
    kept.push(entry);
  }
  return kept.reverse();
}

/** History entries for the containers a decision changed, as they are after it. */
function changedEntries(
  allocations: Allocations,
  updates: readonly CpusetUpdate[],
  action: 'update' | 'move',
  at: string,
  reasons: readonly string[],
): HistoryEntry[] {
  return updates.flatMap((update) => {
    const allocation = allocations.get(update.id);
    return allocation === undefined ? [] : [entryOf(allocation, action, at, reasons)];
  });
}

export function withPod(snapshot: StateSnapshot, pod: PodRecord): StateSnapshot {
  const pods = new Map(snapshot.pods);
  pods.set(pod.id, pod);
  return { ...snapshot, pods };
}

export function withoutPod(snapshot: StateSnapshot, sandboxId: string): StateSnapshot {
  if (!snapshot.pods.has(sandboxId)) return snapshot;
  const pods = new Map(snapshot.pods);
  pods.delete(sandboxId);
  return { ...snapshot, pods };
}

export interface Admission {
  readonly allocation: Allocation;
  /** The allocations after the decision (the new one and every updated one included). */
  readonly allocations: Allocations;
  readonly updates: readonly CpusetUpdate[];
  readonly container: ContainerRecord;
  readonly action: 'admit' | 'adopt';
  readonly at: string;
}

export function withAdmission(snapshot: StateSnapshot, admission: Admission): StateSnapshot {
  const containers = new Map(snapshot.containers);
  containers.set(admission.container.id, admission.container);
  const entries = [
    entryOf(admission.allocation, admission.action, admission.at, admission.allocation.reasons),
    ...changedEntries(admission.allocations, admission.updates, 'update', admission.at, [`shared pool changed when ${admission.allocation.id} was placed`]),
  ];
  return { ...snapshot, allocations: admission.allocations, containers, history: appendHistory(snapshot.history, entries) };
}

export interface Release {
  readonly id: string;
  /** The allocations after the release. */
  readonly allocations: Allocations;
  readonly updates: readonly CpusetUpdate[];
  readonly reasons: readonly string[];
  readonly at: string;
}

export function withRelease(snapshot: StateSnapshot, release: Release): StateSnapshot {
  const released = snapshot.allocations.get(release.id);
  const containers = new Map(snapshot.containers);
  containers.delete(release.id);
  const entries = [
    ...(released === undefined ? [] : [entryOf(released, 'release', release.at, release.reasons)]),
    ...changedEntries(release.allocations, release.updates, 'update', release.at, [`shared pool changed when ${release.id} was released`]),
  ];
  return { ...snapshot, allocations: release.allocations, containers, history: appendHistory(snapshot.history, entries) };
}

/** Containers moved by a decision about them (the rebalancer) rather than about another one. */
export function withMoves(snapshot: StateSnapshot, allocations: Allocations, updates: readonly CpusetUpdate[], reasons: readonly string[], at: string): StateSnapshot {
  return { ...snapshot, allocations, history: appendHistory(snapshot.history, changedEntries(allocations, updates, 'move', at, reasons)) };
}

/**
 * The runtime answered a create: the pending allocation takes the container's real id.
 * `allocations` are the snapshot's with the pending key renamed (the placement engine's rename).
 */
export function withBinding(snapshot: StateSnapshot, allocations: Allocations, pendingId: string, containerId: string, at: string): StateSnapshot {
  const allocation = snapshot.allocations.get(pendingId);
  const record = snapshot.containers.get(pendingId);
  if (allocation === undefined || record === undefined) return snapshot;
  const containers = new Map(snapshot.containers);
  containers.delete(pendingId);
  containers.set(containerId, { ...record, id: containerId, phase: 'created' });
  const renamed = snapshot.history.map((entry) => (entry.container === pendingId ? { ...entry, container: containerId } : entry));
  const bound = entryOf({ ...allocation, id: containerId }, 'bind', at, [`the runtime created container ${containerId}`]);
  return { ...snapshot, allocations, containers, history: appendHistory(renamed, [bound]) };
}
