// The daemon's one source of truth: every allocation, the containers and pod sandboxes they
// belong to, and the history of every change. Plain immutable data; the store (store.ts)
// checkpoints a new snapshot before anyone acts on it.
import type { Allocation, Allocations, PoolKind, QosClass } from '../placement/types.js';
import type { CpuSet } from '../topology/cpuset.js';

/** A pod sandbox as RunPodSandbox (or the runtime's list, at reconcile) described it. */
export interface PodRecord {
  /** The sandbox id the runtime gave it. */
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** From the kubelet cgroup parent (cgroupfs or systemd naming); null when it said nothing. */
  readonly qos: QosClass | null;
  readonly cgroupParent: string;
}

/**
 * The container an allocation belongs to. `pending`: placed and checkpointed, its create
 * forwarded, the runtime's id not known yet (the allocation's key is a pending key);
 * `created`: keyed by the runtime's container id.
 */
export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string | null;
  readonly name: string;
  readonly phase: 'pending' | 'created';
  /** ISO 8601 time the daemon first recorded it (a pending create that stays too long leaks). */
  readonly since: string;
}

export type HistoryAction = 'admit' | 'adopt' | 'bind' | 'update' | 'move' | 'release';

/** One change to one container's CPUs, kept so `explain` can tell the whole story. */
export interface HistoryEntry {
  /** ISO 8601 time of the change. */
  readonly at: string;
  readonly container: string;
  readonly action: HistoryAction;
  readonly cpus: CpuSet;
  readonly mems: CpuSet;
  readonly pool: PoolKind;
  readonly reasons: readonly string[];
}

export interface StateSnapshot {
  readonly allocations: Allocations;
  readonly containers: ReadonlyMap<string, ContainerRecord>;
  readonly pods: ReadonlyMap<string, PodRecord>;
  /** Oldest first, bounded (see historyLimit and historyPerContainerLimit). */
  readonly history: readonly HistoryEntry[];
}

/**
 * Entries kept (and saved in the history file): enough to explain every live container's recent
 * past, few enough that keeping them costs little memory and a small file.
 */
export const historyLimit = 256;
/** The newest entries of one container kept; older ones of a busy container go first. */
export const historyPerContainerLimit = 16;

export const emptySnapshot: StateSnapshot = {
  allocations: new Map<string, Allocation>(),
  containers: new Map(),
  pods: new Map(),
  history: [],
};

/** What every message about an unusable checkpoint ends with: the way out. */
export const rebuildHint = 'start the daemon with --rebuild-state to rebuild the allocations from the runtime';

/** Why a checkpoint cannot be used; `message` says what to do. */
export type StateProblemCode = 'unreadable' | 'corrupt' | 'foreign' | 'unsupported-version' | 'checksum-mismatch' | 'machine-mismatch' | 'conflict';

export interface StateProblem {
  readonly code: StateProblemCode;
  readonly message: string;
}

export type SnapshotResult = { readonly ok: true; readonly snapshot: StateSnapshot } | { readonly ok: false; readonly problem: StateProblem };
