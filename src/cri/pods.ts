// Pod sandboxes and container requests as the lifecycle records them, from CRI messages. Pure.
import type { ContainerRequest } from '../placement/types.js';
import type { PodRecord } from '../state/types.js';
import type { CreateContainerRequest, PodSandboxConfig } from './gen/runtime/v1/api_pb.js';
import { qosFromCgroupParent, requestFromCri, requestFromResources } from './rewrite.js';

export function podRecordOf(sandboxId: string, config: PodSandboxConfig): PodRecord {
  const cgroupParent = config.linux?.cgroupParent ?? '';
  return {
    id: sandboxId,
    namespace: config.metadata?.namespace ?? '',
    name: config.metadata?.name ?? '',
    uid: config.metadata?.uid ?? '',
    annotations: { ...config.annotations },
    qos: qosFromCgroupParent(cgroupParent),
    cgroupParent,
  };
}

/**
 * The placement request of a create: from its own sandbox config (kubelet always sends it), else
 * from the pod RunPodSandbox recorded.
 */
export function containerRequestOf(request: CreateContainerRequest, pod: PodRecord | undefined): ContainerRequest {
  if (request.sandboxConfig !== undefined || pod === undefined) return requestFromCri(request.config, request.sandboxConfig);
  return requestFromResources({
    container: request.config?.metadata?.name ?? '',
    pod: pod.name,
    namespace: pod.namespace,
    annotations: pod.annotations,
    cgroupParent: pod.cgroupParent,
    resources: request.config?.linux?.resources,
  });
}
