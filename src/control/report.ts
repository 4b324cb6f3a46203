// What `status` and `explain` show, built from the state, pure. Every online CPU gets one owner:
// reserved (system pods), isolated (isolcpus, unallocated), exclusive (one container's alone),
// shared (the pool, some container runs there) or free (the pool, nobody runs there now).
import type { CallTimes } from '../metrics/call-times.js';
import type { Allocation, PoolKind, QosClass } from '../placement/types.js';
import { CpuSet } from '../topology/cpuset.js';
import type { Topology } from '../topology/types.js';
import type { HistoryAction, StateSnapshot } from '../state/types.js';

export type CpuOwnerKind = 'reserved' | 'isolated' | 'exclusive' | 'shared' | 'free';

export interface CpuRow {
  readonly cpu: number;
  readonly node: number;
  readonly core: number;
  readonly owner: CpuOwnerKind;
  /** The exclusive owner's container id. */
  readonly container?: string;
}

export interface ContainerRow {
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly qos: QosClass;
  readonly pool: PoolKind;
  readonly exclusive: boolean;
  readonly cpus: string;
  readonly mems: string;
  readonly phase: 'pending' | 'created';
  readonly reasons: readonly string[];
}

export interface StatusReport {
  readonly checkpoint: string;
  readonly online: string;
  readonly offline: string;
  readonly nodes: readonly { readonly id: number; readonly cpus: string }[];
  readonly pools: Readonly<Record<CpuOwnerKind, string>>;
  readonly cpus: readonly CpuRow[];
  readonly containers: readonly ContainerRow[];
  readonly pods: number;
  /** kubelet's calls since start: how long each method takes in the daemon and in the runtime. */
  readonly calls: readonly CallTimes[];
}

export interface HistoryRow {
  readonly at: string;
  readonly action: HistoryAction;
  readonly pool: PoolKind;
  readonly cpus: string;
  readonly mems: string;
  readonly reasons: readonly string[];
}

export interface ExplainReport {
  readonly id: string;
  /** Null once released: only its history remains. */
  readonly current: ContainerRow | null;
  readonly history: readonly HistoryRow[];
}

export type ExplainResult = { readonly ok: true; readonly report: ExplainReport } | { readonly ok: false; readonly message: string };

/** The sets the placement engine decides from, for this snapshot. */
export interface PoolSets {
  readonly reserved: CpuSet;
  readonly shared: CpuSet;
}

function rowOf(allocation: Allocation, snapshot: StateSnapshot): ContainerRow {
  const request = allocation.request;
  return {
    id: allocation.id,
    namespace: request.namespace,
    pod: request.pod,
    container: request.container,
    qos: request.qos,
    pool: allocation.pool,
    exclusive: allocation.exclusive,
    cpus: allocation.cpus.format(),
    mems: allocation.mems.format(),
    phase: snapshot.containers.get(allocation.id)?.phase ?? 'created',
    reasons: allocation.reasons,
  };
}

function byName(a: ContainerRow, b: ContainerRow): number {
  return `${a.namespace}/${a.pod}/${a.container}/${a.id}`.localeCompare(`${b.namespace}/${b.pod}/${b.container}/${b.id}`);
}

export function buildStatusReport(topology: Topology, snapshot: StateSnapshot, sets: PoolSets, checkpoint: string, calls: readonly CallTimes[]): StatusReport {
  const exclusiveOwner = new Map<number, string>();
  const sharedUsed = new Set<number>();
  for (const allocation of snapshot.allocations.values()) {
    for (const cpu of allocation.cpus) {
      if (allocation.exclusive) exclusiveOwner.set(cpu, allocation.id);
      else sharedUsed.add(cpu);
    }
  }
  const cpus: CpuRow[] = topology.online.toArray().map((id) => {
    const cpu = topology.cpus.get(id);
    const base = { cpu: id, node: cpu?.nodeId ?? 0, core: cpu?.coreId ?? id };
    const owner = exclusiveOwner.get(id);
    if (owner !== undefined) return { ...base, owner: 'exclusive', container: owner };
    if (sets.reserved.has(id)) return { ...base, owner: 'reserved' };
    if (sets.shared.has(id)) return { ...base, owner: sharedUsed.has(id) ? 'shared' : 'free' };
    return { ...base, owner: topology.isolated.has(id) ? 'isolated' : 'free' };
  });
  const format = (kind: CpuOwnerKind): string => CpuSet.of(cpus.filter((row) => row.owner === kind).map((row) => row.cpu)).format();
  return {
    checkpoint,
    online: topology.online.format(),
    offline: topology.offline.format(),
    nodes: topology.nodes.map((node) => ({ id: node.id, cpus: node.cpus.format() })),
    pools: {
      reserved: format('reserved'),
      isolated: format('isolated'),
      exclusive: format('exclusive'),
      shared: format('shared'),
      free: format('free'),
    },
    cpus,
    containers: [...snapshot.allocations.values()].map((allocation) => rowOf(allocation, snapshot)).sort(byName),
    pods: snapshot.pods.size,
    calls,
  };
}

/**
 * Finds a container by id prefix, by container name, or by `pod/container` (released ones too,
 * from the history). More than one match is an error that lists them.
 */
export function explainContainer(snapshot: StateSnapshot, query: string): ExplainResult {
  const ids = new Set<string>([...snapshot.allocations.keys(), ...snapshot.history.map((entry) => entry.container)]);
  const matches = [...ids].filter((id) => {
    if (id.startsWith(query)) return true;
    const request = snapshot.allocations.get(id)?.request;
    return request !== undefined && (request.container === query || `${request.pod}/${request.container}` === query);
  });
  const exact = matches.filter((id) => id === query);
  const chosen = exact.length === 1 ? exact : matches;
  if (chosen.length === 0) {
    return { ok: false, message: `no container matches "${query}"; run \`cri-rebalancer status\` to list the containers the daemon placed` };
  }
  if (chosen.length > 1) {
    return { ok: false, message: `"${query}" matches ${chosen.length} containers (${chosen.sort().slice(0, 8).join(', ')}); give more of the id` };
  }
  const id = chosen[0]!;
  const allocation = snapshot.allocations.get(id);
  return {
    ok: true,
    report: {
      id,
      current: allocation === undefined ? null : rowOf(allocation, snapshot),
      history: snapshot.history
        .filter((entry) => entry.container === id)
        .map((entry) => ({ at: entry.at, action: entry.action, pool: entry.pool, cpus: entry.cpus.format(), mems: entry.mems.format(), reasons: entry.reasons })),
    },
  };
}
