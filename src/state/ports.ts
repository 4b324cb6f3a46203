// The narrow interfaces state/ and the lifecycle interceptors act through. main.ts binds them
// to the real placement engine and runtime client; unit tests use small fakes.
import type { Allocations, ContainerRequest, CpusetUpdate, PlacementResult } from '../placement/types.js';
import type { CpuSet } from '../topology/cpuset.js';

/** The placement engine with the topology and the policy in force bound in. */
export interface PlacementEngine {
  place(allocations: Allocations, id: string, request: ContainerRequest): PlacementResult;
  /** Releases exactly what `id` held; `updates` lists the shared containers the pool grows for. */
  release(allocations: Allocations, id: string): { readonly allocations: Allocations; readonly updates: readonly CpusetUpdate[] };
  /**
   * Takes in a container that already runs on `cpus`/`mems`. Never gives a CPU to two exclusive
   * owners: a conflicting container is adopted as shared, with a reason. Null cpus or mems: the
   * runtime reported none (the container may use every CPU or node).
   */
  adopt(allocations: Allocations, id: string, request: ContainerRequest, cpus: CpuSet | null, mems: CpuSet | null): PlacementResult;
  /**
   * The allocations with `fromId`'s allocation under `toId` (a pending create bound to the
   * runtime's id), kept in the engine's own map so the next decision need not count afresh.
   */
  rename(allocations: Allocations, fromId: string, toId: string): Allocations;
  /** The CPUs of the shared pool under these allocations. */
  sharedPool(allocations: Allocations): CpuSet;
  /** The reserved CPUs (system pods only). */
  reserved(): CpuSet;
}

export type RuntimeContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface RuntimeContainerSummary {
  readonly id: string;
  readonly sandboxId: string;
  readonly name: string;
  readonly state: RuntimeContainerState;
}

export interface RuntimeSandboxSummary {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly ready: boolean;
}

/** What adoption needs of a running container: its request and where it runs now. */
export interface RuntimeContainerDetail {
  readonly request: ContainerRequest;
  /** The container's cpuset now; null when the runtime reports none (all CPUs). */
  readonly cpus: CpuSet | null;
  readonly mems: CpuSet | null;
  /** The kubelet cgroup parent, when the runtime reports it. */
  readonly cgroupParent: string | null;
}

/** Where the runtime says a container may run (what its next start or its cgroup uses). */
export interface RuntimeCpuset {
  /** Null when the runtime reports none (all CPUs). */
  readonly cpus: CpuSet | null;
  readonly mems: CpuSet | null;
}

/** The daemon's own runtime client, as reconcile and the lifecycle use it. */
export interface RuntimePort {
  listSandboxes(): Promise<readonly RuntimeSandboxSummary[]>;
  listContainers(): Promise<readonly RuntimeContainerSummary[]>;
  /** Null when the container is gone. */
  inspectContainer(container: RuntimeContainerSummary, sandbox: RuntimeSandboxSummary | undefined): Promise<RuntimeContainerDetail | null>;
  /** The cpuset the runtime holds for a container now; null when the container is gone. */
  readCpuset(id: string): Promise<RuntimeCpuset | null>;
  /** Whether the runtime has this pod sandbox (a create names one the daemon has not seen). */
  sandboxExists(id: string): Promise<boolean>;
  /** Changes only the cpuset of a running container. */
  updateCpuset(id: string, cpus: CpuSet, mems: CpuSet): Promise<void>;
}
