// The plan command's pure part: admit pods in order with the daemon's engine, then report where
// every container landed (with the cpusets it ends with, after later decisions moved it) and
// what was rejected.
import type { Policy } from '../config/types.js';
import { containerRequestsOf, type PodSpec } from '../k8s/pods.js';
import type { Topology } from '../topology/types.js';
import { placeContainer, sharedPool } from './engine.js';
import type { Allocations, PoolKind, QosClass, RejectionReason } from './types.js';

export interface PlannedPlacement {
  readonly pod: string;
  readonly namespace: string;
  readonly container: string;
  readonly qos: QosClass;
  readonly cpus: string;
  readonly mems: string;
  readonly exclusive: boolean;
  readonly pool: PoolKind;
  readonly reasons: readonly string[];
}

export interface PlannedRejection {
  readonly pod: string;
  readonly namespace: string;
  readonly container: string;
  readonly reason: RejectionReason;
  readonly message: string;
}

export interface Plan {
  readonly placements: readonly PlannedPlacement[];
  readonly rejected: readonly PlannedRejection[];
  readonly sharedPool: string;
}

/** The allocation key of a planned container. */
export function planKey(namespace: string, pod: string, container: string): string {
  return `${namespace}/${pod}/${container}`;
}

export function planPods(topology: Topology, policy: Policy, pods: readonly PodSpec[]): Plan {
  let allocations: Allocations = new Map();
  const rejected: PlannedRejection[] = [];
  for (const pod of pods) {
    for (const request of containerRequestsOf(pod)) {
      const key = planKey(request.namespace, request.pod, request.container);
      const result = placeContainer(topology, policy, allocations, key, request);
      if (result.ok) {
        allocations = result.decision.allocations;
      } else {
        const { reason, message } = result.rejection;
        rejected.push({ pod: request.pod, namespace: request.namespace, container: request.container, reason, message });
      }
    }
  }
  const placements = [...allocations.values()].map((allocation) => ({
    pod: allocation.request.pod,
    namespace: allocation.request.namespace,
    container: allocation.request.container,
    qos: allocation.request.qos,
    cpus: allocation.cpus.format(),
    mems: allocation.mems.format(),
    exclusive: allocation.exclusive,
    pool: allocation.pool,
    reasons: allocation.reasons,
  }));
  return { placements, rejected, sharedPool: sharedPool(topology, policy, allocations).format() };
}

/** A table a person reads: one row per container, then the rejections and the shared pool. */
export function formatPlan(plan: Plan): string {
  const header = ['POD', 'CONTAINER', 'QOS', 'POOL', 'CPUS', 'MEMS'];
  const rows = plan.placements.map((placement) => [
    `${placement.namespace}/${placement.pod}`,
    placement.container,
    placement.qos,
    placement.pool,
    placement.cpus,
    placement.mems,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  const lines = [line(header), ...rows.map(line)];
  for (const rejection of plan.rejected) {
    lines.push(`rejected ${rejection.namespace}/${rejection.pod} ${rejection.container}: ${rejection.reason}: ${rejection.message}`);
  }
  lines.push(`shared pool: ${plan.sharedPool === '' ? '(empty)' : plan.sharedPool}`);
  return lines.join('\n');
}
