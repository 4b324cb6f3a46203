// Pure helpers over CRI messages: the cpuset a create or update request is forwarded with,
// reading the QoS class from kubelet's cgroup parent, turning CRI resources into the placement
// engine's ContainerRequest, and checking ids before they reach any path.
import { create } from '@bufbuild/protobuf';
import type { ContainerRequest, QosClass } from '../placement/types.js';
import type { CpuSet } from '../topology/cpuset.js';
import {
  CreateContainerRequestSchema,
  UpdateContainerResourcesRequestSchema,
  type ContainerConfig,
  type CreateContainerRequest,
  type LinuxContainerResources,
  type PodSandboxConfig,
  type UpdateContainerResourcesRequest,
} from './gen/runtime/v1/api_pb.js';

/**
 * What a create is forwarded with after the request kubelet sent: linux.resources.cpuset_cpus and
 * cpuset_mems, which the runtime's decoder merges into the request (see InterceptDecision).
 */
export function cpusetOverridesForCreate(cpus: CpuSet, mems: CpuSet): CreateContainerRequest {
  return create(CreateContainerRequestSchema, { config: { linux: { resources: { cpusetCpus: cpus.format(), cpusetMems: mems.format() } } } });
}

/**
 * What kubelet's UpdateContainerResources is forwarded with after its request: the daemon's
 * cpuset, so everything kubelet asked for applies except the cpuset, which kubelet (CPU manager
 * policy none) would otherwise widen back to all CPUs.
 */
export function cpusetOverridesForUpdate(cpus: CpuSet, mems: CpuSet): UpdateContainerResourcesRequest {
  return create(UpdateContainerResourcesRequestSchema, { linux: { cpusetCpus: cpus.format(), cpusetMems: mems.format() } });
}

export interface CgroupParent {
  readonly qos: QosClass;
  readonly podUid: string;
  readonly driver: 'cgroupfs' | 'systemd';
}

const systemdSlice = /^kubepods(?:-(burstable|besteffort))?-pod([A-Za-z0-9_]+)\.slice$/u;
const cgroupfsPod = /^pod([A-Za-z0-9-]+)$/u;

const isKubepods = (segment: string | undefined): boolean => segment?.startsWith('kubepods') ?? false;

/**
 * Reads kubelet's cgroup parent: cgroupfs `/kubepods/pod<uid>` (Guaranteed),
 * `/kubepods/burstable/pod<uid>`, `/kubepods/besteffort/pod<uid>`; systemd
 * `kubepods-pod<uid>.slice`, `kubepods-burstable-pod<uid>.slice`, ... (possibly as a full slice
 * path). Null when it is not kubelet's naming.
 */
export function parseCgroupParent(parent: string): CgroupParent | null {
  const segments = parent.split('/').filter((segment) => segment !== '');
  const last = segments.at(-1) ?? '';
  const slice = systemdSlice.exec(last);
  if (slice) return { qos: qosFromTier(slice[1]), podUid: (slice[2] as string).replaceAll('_', '-'), driver: 'systemd' };
  const pod = cgroupfsPod.exec(last);
  if (!pod) return null;
  const tier = segments.at(-2);
  if (isKubepods(tier)) return { qos: 'Guaranteed', podUid: pod[1] as string, driver: 'cgroupfs' };
  if ((tier === 'burstable' || tier === 'besteffort') && isKubepods(segments.at(-3))) {
    return { qos: qosFromTier(tier), podUid: pod[1] as string, driver: 'cgroupfs' };
  }
  return null;
}

function qosFromTier(tier: string | undefined): QosClass {
  if (tier === 'burstable') return 'Burstable';
  if (tier === 'besteffort') return 'BestEffort';
  return 'Guaranteed';
}

export function qosFromCgroupParent(parent: string): QosClass | null {
  return parseCgroupParent(parent)?.qos ?? null;
}

/** CPU request in milliCPU from kubelet's cpu_shares (shares = milli*1024/1000, at least 2). */
export function cpuRequestMilliFromShares(shares: bigint): number {
  if (shares <= 2n) return 0;
  return Math.ceil((Number(shares) * 1000) / 1024);
}

/** CPU limit in milliCPU from the CFS quota and period; null without a limit. */
export function cpuLimitMilliFromQuota(quota: bigint, period: bigint): number | null {
  if (quota <= 0n || period <= 0n) return null;
  return Math.ceil((Number(quota) * 1000) / Number(period));
}

/** The QoS class a container's own resources suggest, when the cgroup parent says nothing. */
export function guessQosFromResources(cpuRequestMilli: number, cpuLimitMilli: number | null, memoryLimitBytes: number | null): QosClass {
  if (cpuRequestMilli === 0 && cpuLimitMilli === null && memoryLimitBytes === null) return 'BestEffort';
  if (cpuLimitMilli !== null && memoryLimitBytes !== null && cpuLimitMilli === cpuRequestMilli) return 'Guaranteed';
  return 'Burstable';
}

export interface CriContainerFacts {
  readonly container: string;
  readonly pod: string;
  readonly namespace: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly cgroupParent: string;
  readonly resources: LinuxContainerResources | undefined;
}

/** The placement engine's request from what the runtime knows of a container (create or adoption). */
export function requestFromResources(facts: CriContainerFacts): ContainerRequest {
  const resources = facts.resources;
  const cpuRequestMilli = cpuRequestMilliFromShares(resources?.cpuShares ?? 0n);
  const cpuLimitMilli = cpuLimitMilliFromQuota(resources?.cpuQuota ?? 0n, resources?.cpuPeriod ?? 0n);
  const memoryLimitBytes = resources !== undefined && resources.memoryLimitInBytes > 0n ? Number(resources.memoryLimitInBytes) : null;
  return {
    pod: facts.pod,
    namespace: facts.namespace,
    container: facts.container,
    qos: qosFromCgroupParent(facts.cgroupParent) ?? guessQosFromResources(cpuRequestMilli, cpuLimitMilli, memoryLimitBytes),
    cpuRequestMilli,
    cpuLimitMilli,
    memoryLimitBytes,
    annotations: { ...facts.annotations },
  };
}

/** The placement engine's request from a CreateContainer's config and its pod's sandbox config. */
export function requestFromCri(config: ContainerConfig | undefined, sandboxConfig: PodSandboxConfig | undefined): ContainerRequest {
  return requestFromResources({
    container: config?.metadata?.name ?? '',
    pod: sandboxConfig?.metadata?.name ?? '',
    namespace: sandboxConfig?.metadata?.namespace ?? '',
    annotations: sandboxConfig?.annotations ?? {},
    cgroupParent: sandboxConfig?.linux?.cgroupParent ?? '',
    resources: config?.linux?.resources,
  });
}

export type IdCheck = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly reason: 'invalid-id'; readonly message: string };

// containerd's and CRI-O's ids are 64 hex digits; this also admits containerd's wider identifier
// grammar (alphanumerics joined by single '.', '_' or '-'), never '/', '..' or a leading dot.
const runtimeId = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/u;
const maxIdLength = 128;

/** Checks a container or sandbox id from a request before it is used as a key or in a path. */
export function checkRuntimeId(id: string, kind: 'container' | 'sandbox'): IdCheck {
  if (id.length > 0 && id.length <= maxIdLength && runtimeId.test(id)) return { ok: true, id };
  const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id);
  return {
    ok: false,
    reason: 'invalid-id',
    message: `invalid ${kind} id ${shown}: expected 1-${maxIdLength} letters and digits (e.g. 64 hex digits)`,
  };
}

/** The process id in a verbose ContainerStatus/PodSandboxStatus `info` ("info" → JSON with "pid"). */
export function parseVerboseInfoPid(info: Readonly<Record<string, string>>): number | null {
  const text = info['info'];
  if (text === undefined) return null;
  try {
    const pid = (JSON.parse(text) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
