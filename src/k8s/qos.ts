// A pod's QoS class, derived the way Kubernetes does (pkg/apis/core/v1/helper/qos): requests
// default to limits; only positive CPU and memory amounts count, summed over the containers;
// Guaranteed when every container limits both CPU and memory and the pod's requests equal its
// limits; BestEffort when nothing is requested or limited; Burstable otherwise.
import type { QosClass } from '../placement/types.js';

export interface ResourceAmounts {
  readonly cpuMilli: number | null;
  readonly memoryBytes: number | null;
}

export interface ContainerResources {
  readonly requests: ResourceAmounts;
  readonly limits: ResourceAmounts;
}

/** The requests the API server stores: a request left out takes the limit's value. */
export function effectiveRequests(resources: ContainerResources): ResourceAmounts {
  return {
    cpuMilli: resources.requests.cpuMilli ?? resources.limits.cpuMilli,
    memoryBytes: resources.requests.memoryBytes ?? resources.limits.memoryBytes,
  };
}

const positive = (value: number | null): value is number => value !== null && value > 0;

export function deriveQosClass(containers: readonly ContainerResources[]): QosClass {
  const requests = { cpu: 0, memory: 0, counted: new Set<string>() };
  const limits = { cpu: 0, memory: 0, counted: new Set<string>() };
  let everyContainerLimitsBoth = true;
  for (const resources of containers) {
    const wanted = effectiveRequests(resources);
    for (const [total, amounts] of [
      [requests, wanted],
      [limits, resources.limits],
    ] as const) {
      if (positive(amounts.cpuMilli)) {
        total.cpu += amounts.cpuMilli;
        total.counted.add('cpu');
      }
      if (positive(amounts.memoryBytes)) {
        total.memory += amounts.memoryBytes;
        total.counted.add('memory');
      }
    }
    if (!positive(resources.limits.cpuMilli) || !positive(resources.limits.memoryBytes)) everyContainerLimitsBoth = false;
  }
  if (requests.counted.size === 0 && limits.counted.size === 0) return 'BestEffort';
  const requestsMatchLimits =
    [...requests.counted].every((name) => limits.counted.has(name)) &&
    requests.cpu === limits.cpu &&
    requests.memory === limits.memory;
  return everyContainerLimitsBoth && requestsMatchLimits && requests.counted.size === limits.counted.size
    ? 'Guaranteed'
    : 'Burstable';
}
