// The daemon's own client to the runtime (reconcile, cpuset updates), over the runtime's unix
// socket with @grpc/grpc-js and the generated codecs. Every call has a deadline; failures are
// values with a reason. Chosen over a second raw HTTP/2 client: these calls are few and off the
// kubelet path, and grpc-js brings reconnection and deadline handling already tested.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import {
  ContainerFilterSchema,
  LinuxContainerResourcesSchema,
  PodSandboxFilterSchema,
  type ContainerStatusResponse,
  type ListContainersResponse,
  type ListPodSandboxResponse,
  type PodSandboxStatusResponse,
  type UpdateContainerResourcesResponse,
  type VersionResponse,
} from './gen/runtime/v1/api_pb.js';
import { formatGrpcStatus, GrpcStatus, type GrpcStatusCode } from './grpc-status.js';
import { runtimeMethods, type UnaryMethod } from './methods.js';
import { checkRuntimeId } from './rewrite.js';

export type RuntimeErrorReason = 'unavailable' | 'deadline-exceeded' | 'not-found' | 'invalid-id' | 'runtime-error';

export interface RuntimeError {
  readonly reason: RuntimeErrorReason;
  readonly code: GrpcStatusCode;
  readonly message: string;
}

export type RuntimeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RuntimeError };

export interface RuntimeClientOptions {
  /** The runtime's CRI socket path. */
  readonly socketPath: string;
  /** Deadline of each call unless the call sets its own. */
  readonly timeoutMs?: number;
}

const defaultTimeoutMs = 10_000;

function reasonFor(code: number): RuntimeErrorReason {
  if (code === GrpcStatus.UNAVAILABLE) return 'unavailable';
  if (code === GrpcStatus.DEADLINE_EXCEEDED) return 'deadline-exceeded';
  if (code === GrpcStatus.NOT_FOUND) return 'not-found';
  return 'runtime-error';
}

export class RuntimeClient {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(readonly options: RuntimeClientOptions) {
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.client = new grpc.Client(`unix:${options.socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      // A restarted runtime is back within a second or two; don't wait out grpc's 2-minute backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
  }

  version(): Promise<RuntimeResult<VersionResponse>> {
    return this.call(runtimeMethods.Version, { version: 'v1' });
  }

  listPodSandbox(filter?: MessageInitShape<typeof PodSandboxFilterSchema>): Promise<RuntimeResult<ListPodSandboxResponse>> {
    return this.call(runtimeMethods.ListPodSandbox, { filter: filter === undefined ? undefined : create(PodSandboxFilterSchema, filter) });
  }

  listContainers(filter?: MessageInitShape<typeof ContainerFilterSchema>): Promise<RuntimeResult<ListContainersResponse>> {
    return this.call(runtimeMethods.ListContainers, { filter: filter === undefined ? undefined : create(ContainerFilterSchema, filter) });
  }

  containerStatus(containerId: string, verbose = false): Promise<RuntimeResult<ContainerStatusResponse>> {
    return this.withId(containerId, 'container', () => this.call(runtimeMethods.ContainerStatus, { containerId, verbose }));
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<RuntimeResult<PodSandboxStatusResponse>> {
    return this.withId(podSandboxId, 'sandbox', () => this.call(runtimeMethods.PodSandboxStatus, { podSandboxId, verbose }));
  }

  /** Sets these Linux resources of a running container (only the fields given are non-zero). */
  updateContainerResources(
    containerId: string,
    linux: MessageInitShape<typeof LinuxContainerResourcesSchema>,
  ): Promise<RuntimeResult<UpdateContainerResourcesResponse>> {
    return this.withId(containerId, 'container', () =>
      this.call(runtimeMethods.UpdateContainerResources, { containerId, linux: create(LinuxContainerResourcesSchema, linux) }),
    );
  }

  close(): void {
    this.client.close();
  }

  private async withId<T>(id: string, kind: 'container' | 'sandbox', call: () => Promise<RuntimeResult<T>>): Promise<RuntimeResult<T>> {
    const checked = checkRuntimeId(id, kind);
    if (!checked.ok) return { ok: false, error: { reason: 'invalid-id', code: GrpcStatus.INVALID_ARGUMENT, message: checked.message } };
    return call();
  }

  private call<Req extends DescMessage, Res extends DescMessage>(
    method: UnaryMethod<Req, Res>,
    request: MessageInitShape<Req>,
  ): Promise<RuntimeResult<MessageShape<Res>>> {
    const message = create(method.request, request);
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        (value: MessageShape<Req>) => Buffer.from(toBinary(method.request, value)),
        (bytes: Buffer) => fromBinary(method.response, bytes),
        message,
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (error, response) => {
          if (error || response === undefined) {
            const code = (error?.code ?? GrpcStatus.INTERNAL) as GrpcStatusCode;
            const name = method.path.slice(method.path.lastIndexOf('/') + 1);
            resolve({
              ok: false,
              error: {
                reason: reasonFor(code),
                code,
                message: `${name} on the runtime at ${this.options.socketPath} failed (${formatGrpcStatus(code)}): ${error?.details ?? 'no response'}`,
              },
            });
            return;
          }
          resolve({ ok: true, value: response });
        },
      );
    });
  }
}
