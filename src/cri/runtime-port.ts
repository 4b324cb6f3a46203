// The runtime client as reconcile and the lifecycle use it (state/ports.ts): lists turned into
// summaries, a verbose ContainerStatus turned into what adoption needs. Failures become thrown
// errors carrying the gRPC code (the callers decide per code).
import { create } from '@bufbuild/protobuf';
import type { RuntimeContainerDetail, RuntimeContainerState, RuntimeCpuset, RuntimePort, RuntimeContainerSummary, RuntimeSandboxSummary } from '../state/ports.js';
import { CpuSet } from '../topology/cpuset.js';
import { ContainerState, LinuxContainerResourcesSchema, PodSandboxState, type ContainerStatusResponse, type LinuxContainerResources } from './gen/runtime/v1/api_pb.js';
import { requestFromResources } from './rewrite.js';
import type { RuntimeClient, RuntimeError, RuntimeResult } from './runtime-client.js';

export class RuntimeCallError extends Error {
  constructor(readonly error: RuntimeError) {
    super(error.message);
    this.name = 'RuntimeCallError';
  }

  get code(): number {
    return this.error.code;
  }
}

function valueOf<T>(result: RuntimeResult<T>): T {
  if (!result.ok) throw new RuntimeCallError(result.error);
  return result.value;
}

const states: Record<ContainerState, RuntimeContainerState> = {
  [ContainerState.CONTAINER_CREATED]: 'created',
  [ContainerState.CONTAINER_RUNNING]: 'running',
  [ContainerState.CONTAINER_EXITED]: 'exited',
  [ContainerState.CONTAINER_UNKNOWN]: 'unknown',
};

function parseCpuset(text: string | undefined): CpuSet | null {
  if (text === undefined || text.trim() === '') return null;
  try {
    return CpuSet.parse(text);
  } catch {
    return null;
  }
}

/** The parts of an OCI runtime spec that a verbose ContainerStatus carries and adoption reads. */
interface VerboseInfo {
  runtimeSpec?: {
    linux?: {
      cgroupsPath?: string;
      resources?: {
        cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
        memory?: { limit?: number };
      };
    };
  };
}

/** kubelet's cgroup parent from the OCI cgroupsPath: `/parent/<id>` (cgroupfs) or `parent.slice:prefix:<id>` (systemd). */
export function parseCgroupParentOfPath(cgroupsPath: string): string | null {
  if (cgroupsPath === '') return null;
  if (cgroupsPath.includes(':')) return cgroupsPath.split(':')[0] ?? null;
  const cut = cgroupsPath.lastIndexOf('/');
  return cut > 0 ? cgroupsPath.slice(0, cut) : null;
}

function parseVerboseInfo(info: Readonly<Record<string, string>>): VerboseInfo {
  try {
    return JSON.parse(info['info'] ?? '{}') as VerboseInfo;
  } catch {
    return {};
  }
}

/** CRI resources from the OCI spec, for runtimes that leave ContainerStatus.resources empty. */
function resourcesOfSpec(info: VerboseInfo): LinuxContainerResources | undefined {
  const resources = info.runtimeSpec?.linux?.resources;
  if (resources === undefined) return undefined;
  return create(LinuxContainerResourcesSchema, {
    cpuShares: BigInt(resources.cpu?.shares ?? 0),
    cpuQuota: BigInt(resources.cpu?.quota ?? 0),
    cpuPeriod: BigInt(resources.cpu?.period ?? 0),
    cpusetCpus: resources.cpu?.cpus ?? '',
    cpusetMems: resources.cpu?.mems ?? '',
    memoryLimitInBytes: BigInt(resources.memory?.limit ?? 0),
  });
}

/** What adoption needs from a verbose ContainerStatus, pure. */
export function parseContainerDetail(response: ContainerStatusResponse, container: RuntimeContainerSummary, sandbox: RuntimeSandboxSummary | undefined): RuntimeContainerDetail {
  const info = parseVerboseInfo(response.info);
  const resources = response.status?.resources?.linux ?? resourcesOfSpec(info);
  const cgroupParent = parseCgroupParentOfPath(info.runtimeSpec?.linux?.cgroupsPath ?? '');
  return {
    request: requestFromResources({
      container: container.name,
      pod: sandbox?.name ?? '',
      namespace: sandbox?.namespace ?? '',
      annotations: sandbox?.annotations ?? {},
      cgroupParent: cgroupParent ?? '',
      resources,
    }),
    ...cpusetOf(resources),
    cgroupParent,
  };
}

function cpusetOf(resources: LinuxContainerResources | undefined): RuntimeCpuset {
  return { cpus: parseCpuset(resources?.cpusetCpus), mems: parseCpuset(resources?.cpusetMems) };
}

/** The cpuset of a ContainerStatus: its resources, else (runtimes that leave them empty) the OCI spec. */
export function parseContainerCpuset(response: ContainerStatusResponse): RuntimeCpuset {
  return cpusetOf(response.status?.resources?.linux ?? resourcesOfSpec(parseVerboseInfo(response.info)));
}

export function createRuntimePort(client: RuntimeClient): RuntimePort {
  return {
    async listSandboxes() {
      const { items } = valueOf(await client.listPodSandbox());
      return items.map((sandbox) => ({
        id: sandbox.id,
        namespace: sandbox.metadata?.namespace ?? '',
        name: sandbox.metadata?.name ?? '',
        uid: sandbox.metadata?.uid ?? '',
        annotations: { ...sandbox.annotations },
        ready: sandbox.state === PodSandboxState.SANDBOX_READY,
      }));
    },
    async listContainers() {
      const { containers } = valueOf(await client.listContainers());
      return containers.map((container) => ({
        id: container.id,
        sandboxId: container.podSandboxId,
        name: container.metadata?.name ?? '',
        state: states[container.state] ?? 'unknown',
      }));
    },
    async inspectContainer(container, sandbox) {
      const result = await client.containerStatus(container.id, true);
      if (!result.ok && result.error.reason === 'not-found') return null;
      return parseContainerDetail(valueOf(result), container, sandbox);
    },
    async readCpuset(id) {
      // The plain status carries the resources (containerd, CRI-O); verbose only when it does not.
      const plain = await client.containerStatus(id, false);
      if (!plain.ok && plain.error.reason === 'not-found') return null;
      if (valueOf(plain).status?.resources?.linux !== undefined) return parseContainerCpuset(valueOf(plain));
      const verbose = await client.containerStatus(id, true);
      if (!verbose.ok && verbose.error.reason === 'not-found') return null;
      return parseContainerCpuset(valueOf(verbose));
    },
    async sandboxExists(id) {
      const result = await client.podSandboxStatus(id);
      if (!result.ok && (result.error.reason === 'not-found' || result.error.reason === 'invalid-id')) return false;
      return valueOf(result).status !== undefined;
    },
    async updateCpuset(id, cpus, mems) {
      valueOf(await client.updateContainerResources(id, { cpusetCpus: cpus.format(), cpusetMems: mems.format() }));
    },
  };
}
