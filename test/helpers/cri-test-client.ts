// A kubelet stand-in for tests and the demo: a CRI runtime.v1 client over a unix socket (grpc-js
// with @grpc/proto-loader on test/helpers/kubelet-cri.proto), and the requests kubelet builds:
// cgroup parents that encode the QoS class, CPU and memory resources in kubelet's encoding,
// host-network pods, pod annotations in the sandbox config.
import * as grpc from '@grpc/grpc-js';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';

export type CriService = 'RuntimeService' | 'ImageService';
/** Decoded messages: snake_case fields, int64 as numbers, enums as their names. */
export type CriMessage = Record<string, unknown>;

export interface CriError extends Error {
  readonly code: grpc.status;
  readonly details: string;
}

export function isCriError(error: unknown): error is CriError {
  return error instanceof Error && typeof (error as Partial<CriError>).code === 'number';
}

type Definitions = Record<CriService, Record<string, MethodDefinition<object, CriMessage>>>;

let loaded: Definitions | null = null;

function loadDefinitions(repoRoot: string): Definitions {
  if (loaded !== null) return loaded;
  const packageDefinition = loadSync(join(repoRoot, 'test', 'helpers', 'kubelet-cri.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const service = (name: CriService): Record<string, MethodDefinition<object, CriMessage>> =>
    packageDefinition[`runtime.v1.${name}`] as unknown as Record<string, MethodDefinition<object, CriMessage>>;
  loaded = { RuntimeService: service('RuntimeService'), ImageService: service('ImageService') };
  return loaded;
}

export interface CallOptions {
  readonly timeoutMs?: number;
}

export class CriTestClient {
  readonly #client: grpc.Client;
  readonly #definitions: Definitions;

  constructor(
    readonly socket: string,
    repoRoot: string,
  ) {
    this.#definitions = loadDefinitions(repoRoot);
    this.#client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
  }

  #method(service: CriService, method: string): MethodDefinition<object, CriMessage> {
    const definition = this.#definitions[service][method];
    if (definition === undefined) throw new Error(`kubelet-cri.proto has no ${service}.${method}`);
    return definition;
  }

  #unary<Response>(
    service: CriService,
    method: string,
    request: object,
    deserialize: (bytes: Buffer) => Response,
    options: CallOptions,
  ): Promise<Response> {
    const definition = this.#method(service, method);
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        deserialize,
        request,
        new grpc.Metadata(),
        { deadline },
        (error, response) => (error ? reject(error) : resolve(response as Response)),
      );
    });
  }

  /** One unary call, the response decoded. Rejects with a CriError. */
  call<Response extends CriMessage = CriMessage>(
    service: CriService,
    method: string,
    request: object = {},
    options: CallOptions = {},
  ): Promise<Response> {
    const definition = this.#method(service, method);
    return this.#unary(service, method, request, (bytes) => definition.responseDeserialize(bytes) as Response, options);
  }

  /** One unary call, the response's bytes exactly as the server sent them. */
  callRaw(service: CriService, method: string, request: object = {}, options: CallOptions = {}): Promise<Buffer> {
    return this.#unary(service, method, request, (bytes) => bytes, options);
  }

  /** GetContainerEvents: a stream of decoded events; cancel it with `.cancel()`. */
  containerEvents(): grpc.ClientReadableStream<CriMessage> {
    const definition = this.#method('RuntimeService', 'GetContainerEvents');
    return this.#client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      {},
      new grpc.Metadata(),
      {},
    );
  }

  close(): void {
    this.#client.close();
  }
}

// ---- What kubelet sends ----

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly qos: QosClass;
  /** kubelet's --cgroup-root: the parent of `kubepods` (default: the root, `/kubepods/...`). */
  readonly cgroupRoot?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ContainerSpec {
  readonly name: string;
  readonly cpuRequestMilli?: number;
  readonly cpuLimitMilli?: number;
  readonly memoryLimitBytes?: number;
  /** A cpuset kubelet's static CPU manager would send; kubelet with `--cpu-manager-policy=none` sends none. */
  readonly cpusetCpus?: string;
  /** kubelet's restart count: a container that replaces a dead one of the same name gets the next. */
  readonly attempt?: number;
  /** The command; by default one that sleeps and exits at once on SIGTERM. */
  readonly command?: readonly string[];
}

/** kubelet's cgroupfs-driver parent for a pod: the QoS class is in the path. */
export function formatKubeletCgroupParent(qos: QosClass, uid: string, cgroupRoot = ''): string {
  const kubepods = `${cgroupRoot.replace(/\/$/u, '')}/kubepods`;
  if (qos === 'Guaranteed') return `${kubepods}/pod${uid}`;
  return `${kubepods}/${qos.toLowerCase()}/pod${uid}`;
}

const cpuPeriodMicros = 100_000;
const minCpuShares = 2;
const minCpuQuotaMicros = 1000;

/** CPU and memory as kubelet encodes them (requests default to limits, as the API server does). */
export function formatLinuxResources(container: ContainerSpec, qos: QosClass): CriMessage {
  const requestMilli = container.cpuRequestMilli ?? container.cpuLimitMilli ?? 0;
  const limitMilli = container.cpuLimitMilli ?? 0;
  const oomScoreAdj = qos === 'Guaranteed' ? -997 : qos === 'BestEffort' ? 1000 : 999;
  return {
    cpu_period: cpuPeriodMicros,
    cpu_quota: limitMilli === 0 ? 0 : Math.max(minCpuQuotaMicros, Math.floor((limitMilli * cpuPeriodMicros) / 1000)),
    cpu_shares: Math.max(minCpuShares, Math.floor((requestMilli * 1024) / 1000)),
    memory_limit_in_bytes: container.memoryLimitBytes ?? 0,
    oom_score_adj: oomScoreAdj,
    cpuset_cpus: container.cpusetCpus ?? '',
  };
}

/** Host network (no CNI needed), per-container PID namespaces, as kubelet asks for them. */
const hostNetworkNamespaces = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };

export function formatPodSandboxConfig(pod: PodSpec): CriMessage {
  return {
    metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 },
    labels: {
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.pod.uid': pod.uid,
      ...pod.labels,
    },
    annotations: { 'kubernetes.io/config.source': 'api', ...pod.annotations },
    linux: {
      cgroup_parent: formatKubeletCgroupParent(pod.qos, pod.uid, pod.cgroupRoot),
      security_context: { namespace_options: hostNetworkNamespaces },
    },
  };
}

const sleepUntilTerm = ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 86400 & wait'];

export function formatContainerConfig(container: ContainerSpec, pod: PodSpec, image: string): CriMessage {
  return {
    metadata: { name: container.name, attempt: container.attempt ?? 0 },
    image: { image },
    command: container.command ?? sleepUntilTerm,
    labels: {
      'io.kubernetes.container.name': container.name,
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.pod.uid': pod.uid,
    },
    linux: {
      resources: formatLinuxResources(container, pod.qos),
      security_context: { namespace_options: hostNetworkNamespaces },
    },
  };
}

// ---- Kubelet's steps ----

export interface RunningPod {
  readonly id: string;
  readonly spec: PodSpec;
  readonly config: CriMessage;
}

export async function runPod(client: CriTestClient, pod: PodSpec): Promise<RunningPod> {
  const config = formatPodSandboxConfig(pod);
  const response = await client.call<{ pod_sandbox_id: string }>('RuntimeService', 'RunPodSandbox', { config });
  return { id: response.pod_sandbox_id, spec: pod, config };
}

export async function createContainer(
  client: CriTestClient,
  pod: RunningPod,
  container: ContainerSpec,
  image: string,
): Promise<string> {
  const response = await client.call<{ container_id: string }>('RuntimeService', 'CreateContainer', {
    pod_sandbox_id: pod.id,
    config: formatContainerConfig(container, pod.spec, image),
    sandbox_config: pod.config,
  });
  return response.container_id;
}

export async function startContainer(client: CriTestClient, containerId: string): Promise<void> {
  await client.call('RuntimeService', 'StartContainer', { container_id: containerId });
}

/** Create then start, as kubelet does for each container of a pod. */
export async function runContainer(
  client: CriTestClient,
  pod: RunningPod,
  container: ContainerSpec,
  image: string,
): Promise<string> {
  const id = await createContainer(client, pod, container, image);
  await startContainer(client, id);
  return id;
}

export async function removeContainer(client: CriTestClient, containerId: string): Promise<void> {
  await client.call('RuntimeService', 'StopContainer', { container_id: containerId, timeout: 10 });
  await client.call('RuntimeService', 'RemoveContainer', { container_id: containerId });
}

/** Stop and remove the sandbox (containerd removes its containers with it). */
export async function removePod(client: CriTestClient, podId: string): Promise<void> {
  await client.call('RuntimeService', 'StopPodSandbox', { pod_sandbox_id: podId });
  await client.call('RuntimeService', 'RemovePodSandbox', { pod_sandbox_id: podId });
}

export interface ContainerRuntimeInfo {
  readonly pid: number;
  /** The cgroup path from the OCI spec, e.g. `/kubepods/burstable/pod<uid>/<id>`. */
  readonly cgroupPath: string;
  readonly resources: CriMessage;
}

/** The container's pid and cgroup from ContainerStatus(verbose) as containerd reports them. */
export async function readContainerRuntimeInfo(client: CriTestClient, containerId: string): Promise<ContainerRuntimeInfo> {
  const response = await client.call<{ status: { resources: { linux: CriMessage } }; info: Record<string, string> }>(
    'RuntimeService',
    'ContainerStatus',
    { container_id: containerId, verbose: true },
  );
  const info = JSON.parse(response.info['info'] ?? '{}') as {
    pid?: number;
    runtimeSpec?: { linux?: { cgroupsPath?: string } };
  };
  const cgroupPath = info.runtimeSpec?.linux?.cgroupsPath;
  if (info.pid === undefined || cgroupPath === undefined) {
    throw new Error(`ContainerStatus(${containerId}, verbose) has no pid or cgroupsPath in info`);
  }
  return { pid: info.pid, cgroupPath, resources: response.status.resources.linux };
}
