// Which pool a request goes to, by the rules in engine.ts, and why. Pod annotations are written
// by any pod author: they only narrow what a container gets, or ask for what the policy allows
// their namespace; they never reach the reserved CPUs.
import type { Policy } from '../config/types.js';
import type { PlacementContext } from './context.js';
import type { ContainerRequest } from './types.js';

export const isolatedCpusAnnotation = 'cri-rebalancer.io/isolated-cpus';
export const sharedCpusAnnotation = 'cri-rebalancer.io/shared-cpus';
export const memoryOnlyNodesAnnotation = 'cri-rebalancer.io/memory-only-nodes';

export type Route =
  | { readonly kind: 'reserved'; readonly reasons: readonly string[] }
  | { readonly kind: 'exclusive' | 'isolated'; readonly count: number; readonly reasons: readonly string[] }
  | { readonly kind: 'shared'; readonly reasons: readonly string[] };

export function isSystemPod(policy: Policy, request: ContainerRequest): boolean {
  return policy.reserved.namespaces.includes(request.namespace);
}

function allows(namespaces: readonly string[], namespace: string): boolean {
  return namespaces.includes('*') || namespaces.includes(namespace);
}

/** Guaranteed with a whole number of CPUs: the only requests exclusive CPUs can serve. */
export function integerCpus(request: ContainerRequest): number | null {
  const milli = request.cpuRequestMilli;
  return request.qos === 'Guaranteed' && milli > 0 && milli % 1000 === 0 ? milli / 1000 : null;
}

export function routeRequest(context: PlacementContext, request: ContainerRequest): Route {
  const { policy } = context;
  const reasons: string[] = [];
  const asksIsolated = request.annotations[isolatedCpusAnnotation] === 'true';
  const asksShared = request.annotations[sharedCpusAnnotation] === 'true';
  const cpus = integerCpus(request);

  // Rule 1: system pods run on the reserved CPUs; nobody else does.
  if (isSystemPod(policy, request)) {
    if (!context.reserved.isEmpty()) {
      reasons.push(`rule 1: namespace ${request.namespace} is a system namespace: runs on the reserved CPUs`);
      if (asksIsolated) reasons.push(`rule 5: annotation ${isolatedCpusAnnotation} ignored: system pods run on the reserved CPUs`);
      return { kind: 'reserved', reasons };
    }
    reasons.push(`rule 1: namespace ${request.namespace} is a system namespace, but the policy reserves no CPUs`);
  }

  // Rule 5: isolated CPUs by annotation, only where the policy allows the namespace.
  if (asksIsolated) {
    if (!allows(policy.annotations.isolatedCpusNamespaces, request.namespace)) {
      reasons.push(
        `rule 5: annotation ${isolatedCpusAnnotation} ignored: namespace ${request.namespace} is not in annotations.isolatedCpusNamespaces`,
      );
    } else if (cpus === null) {
      reasons.push(
        `rule 5: annotation ${isolatedCpusAnnotation} ignored: isolated CPUs need a Guaranteed container with an integer CPU request`,
      );
    } else {
      reasons.push(`rule 5: asks for isolated CPUs by annotation and namespace ${request.namespace} may`);
      return { kind: 'isolated', count: cpus, reasons };
    }
  }

  // Rule 2: exclusive CPUs for Guaranteed containers with an integer CPU request.
  if (cpus !== null) {
    if (asksShared) {
      reasons.push(`rule 5: annotation ${sharedCpusAnnotation} opts this Guaranteed container out of exclusive CPUs`);
    } else if (!policy.placement.exclusiveCpus) {
      reasons.push('rule 2: placement.exclusiveCpus is off: no exclusive CPUs');
    } else {
      return { kind: 'exclusive', count: cpus, reasons };
    }
  }

  // Rule 3: everything else shares the pool.
  return { kind: 'shared', reasons };
}

/** Rule 4/5: may this request's memory widen onto memory-only nodes? */
export function memoryOnlyAllowed(policy: Policy, request: ContainerRequest, reasons: string[]): boolean {
  if (policy.placement.memoryOnlyNodes) return true;
  if (request.annotations[memoryOnlyNodesAnnotation] !== 'true') return false;
  if (allows(policy.annotations.memoryOnlyNodesNamespaces, request.namespace)) {
    reasons.push(`rule 5: annotation ${memoryOnlyNodesAnnotation}: memory may widen onto memory-only nodes`);
    return true;
  }
  reasons.push(
    `rule 5: annotation ${memoryOnlyNodesAnnotation} ignored: namespace ${request.namespace} is not in annotations.memoryOnlyNodesNamespaces`,
  );
  return false;
}
