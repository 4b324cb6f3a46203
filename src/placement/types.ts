// Data the placement engine takes and returns. The engine is pure: the same topology, policy,
// allocations and request always give the same decision.
import type { CpuSet } from '../topology/cpuset.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** One container's request, as the CRI proxy (or the plan command) sees it. */
export interface ContainerRequest {
  readonly pod: string;
  readonly namespace: string;
  readonly container: string;
  readonly qos: QosClass;
  /** CPU request in milliCPU (0 when absent). */
  readonly cpuRequestMilli: number;
  /** CPU limit in milliCPU, or null without a limit. */
  readonly cpuLimitMilli: number | null;
  readonly memoryLimitBytes: number | null;
  /** Pod annotations: written by any pod author, honoured only as far as the policy allows. */
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * Where a container runs. `reserved`: the system pods' CPUs; `exclusive`: CPUs only it uses;
 * `isolated`: exclusive isolated CPUs; `shared`: the pool of everything else.
 */
export type PoolKind = 'reserved' | 'exclusive' | 'isolated' | 'shared';

export interface Allocation {
  /** The container id (the runtime's, or a plan's own key). */
  readonly id: string;
  readonly request: ContainerRequest;
  readonly cpus: CpuSet;
  /** NUMA nodes for cpuset.mems. */
  readonly mems: CpuSet;
  readonly pool: PoolKind;
  /** True when `cpus` belong to this container alone. */
  readonly exclusive: boolean;
  /** Why: one short sentence per rule that decided. */
  readonly reasons: readonly string[];
  /**
   * Shared containers pinned to one NUMA node's shared CPUs: that node's id. Absent for
   * containers on the whole shared pool and for every other pool.
   */
  readonly pinnedNode?: number;
}

/** A change to a container already placed, caused by a decision about another one. */
export interface CpusetUpdate {
  readonly id: string;
  readonly cpus: CpuSet;
  readonly mems: CpuSet;
}

/** All allocations, by container id. Treated as immutable: decisions return a new one. */
export type Allocations = ReadonlyMap<string, Allocation>;

export interface PlacementDecision {
  readonly allocation: Allocation;
  /** Every other container whose cpuset changes, e.g. shared containers when the pool shrinks. */
  readonly updates: readonly CpusetUpdate[];
  /** The allocations after the decision. */
  readonly allocations: Allocations;
}

export type RejectionReason =
  | 'insufficient-cpus'
  | 'insufficient-isolated-cpus'
  | 'duplicate-container'
  | 'unknown-container'
  | 'invalid-target';

export interface PlacementRejection {
  readonly reason: RejectionReason;
  readonly requested: number;
  readonly available: number;
  /** What a person reads: what was asked, what is free, what to do. */
  readonly message: string;
}

export type PlacementResult =
  | { readonly ok: true; readonly decision: PlacementDecision }
  | { readonly ok: false; readonly rejection: PlacementRejection };

/** Where `replaceContainer` moves a container (the rebalancer's target). */
export interface PlacementTarget {
  readonly cpus: CpuSet;
  readonly mems: CpuSet;
}

/** What releasing a container gives: the allocations without it and the cpusets that grow. */
export interface ReleaseResult {
  /** The allocation released, or null when the id was unknown (nothing changes). */
  readonly released: Allocation | null;
  readonly allocations: Allocations;
  readonly updates: readonly CpusetUpdate[];
}
