// The typed, validated policy every module reads. The YAML file (see examples/policy.yaml)
// maps onto this one to one; schema.ts validates it and fills the defaults documented there.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface RuntimePolicy {
  /** The runtime's CRI socket; null: detect containerd's, then CRI-O's standard socket. */
  readonly endpoint: string | null;
}

export interface ListenPolicy {
  /** The CRI socket kubelet connects to. */
  readonly socket: string;
  /** The local control socket `status` and `explain` use. */
  readonly controlSocket: string;
  /** File mode of both sockets (root-only by default). */
  readonly socketMode: number;
}

export interface ReservedPolicy {
  /** Explicit reserved CPUs as a cpulist, or null to take `count` CPUs by topology. */
  readonly cpus: string | null;
  /** How many CPUs to reserve when `cpus` is null (0: none). */
  readonly count: number;
  /** Pods in these namespaces are system pods and run on the reserved CPUs. */
  readonly namespaces: readonly string[];
}

export interface PlacementPolicy {
  /** Give exclusive CPUs to Guaranteed containers with an integer CPU request. */
  readonly exclusiveCpus: boolean;
  /** Prefer whole physical cores (all hyperthreads) for exclusive allocations. */
  readonly preferWholeCores: boolean;
  /** Keep at least this many shared CPUs on every NUMA node that has CPUs. */
  readonly minSharedCpusPerNode: number;
  /** Pin shared-pool containers to one NUMA node's shared CPUs when they fit there. */
  readonly pinSharedToNode: boolean;
  /** Allow memory-only nodes (PMEM, CXL, HBM) in cpuset.mems when widening memory. */
  readonly memoryOnlyNodes: boolean;
  /** When a container cannot get what it asks for: reject the create, or run it shared. */
  readonly onInsufficient: 'reject' | 'shared';
}

export interface AnnotationPolicy {
  /** Namespaces whose pods may ask for isolated CPUs by annotation ("*" for all). */
  readonly isolatedCpusNamespaces: readonly string[];
  /** Namespaces whose pods may ask for memory-only nodes by annotation ("*" for all). */
  readonly memoryOnlyNodesNamespaces: readonly string[];
}

export interface Policy {
  readonly runtime: RuntimePolicy;
  readonly listen: ListenPolicy;
  /** Where allocations are checkpointed. */
  readonly stateDir: string;
  readonly reserved: ReservedPolicy;
  readonly placement: PlacementPolicy;
  readonly annotations: AnnotationPolicy;
  readonly logLevel: LogLevel;
}
