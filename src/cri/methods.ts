// The CRI methods the proxy can decode: gRPC path → request and response schemas. Everything else
// is relayed as bytes.
import type { DescMessage } from '@bufbuild/protobuf';
import {
  ContainerStatusRequestSchema,
  ContainerStatusResponseSchema,
  CreateContainerRequestSchema,
  CreateContainerResponseSchema,
  ListContainersRequestSchema,
  ListContainersResponseSchema,
  ListPodSandboxRequestSchema,
  ListPodSandboxResponseSchema,
  PodSandboxStatusRequestSchema,
  PodSandboxStatusResponseSchema,
  RemoveContainerRequestSchema,
  RemoveContainerResponseSchema,
  RemovePodSandboxRequestSchema,
  RemovePodSandboxResponseSchema,
  RunPodSandboxRequestSchema,
  RunPodSandboxResponseSchema,
  StartContainerRequestSchema,
  StartContainerResponseSchema,
  StopContainerRequestSchema,
  StopContainerResponseSchema,
  StopPodSandboxRequestSchema,
  StopPodSandboxResponseSchema,
  UpdateContainerResourcesRequestSchema,
  UpdateContainerResourcesResponseSchema,
  VersionRequestSchema,
  VersionResponseSchema,
} from './gen/runtime/v1/api_pb.js';

export interface UnaryMethod<Req extends DescMessage, Res extends DescMessage> {
  /** The HTTP/2 path, e.g. "/runtime.v1.RuntimeService/CreateContainer". */
  readonly path: string;
  readonly request: Req;
  readonly response: Res;
}

function runtimeMethod<Req extends DescMessage, Res extends DescMessage>(
  name: string,
  request: Req,
  response: Res,
): UnaryMethod<Req, Res> {
  return { path: `/runtime.v1.RuntimeService/${name}`, request, response };
}

/** The unary RuntimeService methods the proxy intercepts and the runtime client calls. */
export const runtimeMethods = {
  Version: runtimeMethod('Version', VersionRequestSchema, VersionResponseSchema),
  RunPodSandbox: runtimeMethod('RunPodSandbox', RunPodSandboxRequestSchema, RunPodSandboxResponseSchema),
  StopPodSandbox: runtimeMethod('StopPodSandbox', StopPodSandboxRequestSchema, StopPodSandboxResponseSchema),
  RemovePodSandbox: runtimeMethod('RemovePodSandbox', RemovePodSandboxRequestSchema, RemovePodSandboxResponseSchema),
  PodSandboxStatus: runtimeMethod('PodSandboxStatus', PodSandboxStatusRequestSchema, PodSandboxStatusResponseSchema),
  ListPodSandbox: runtimeMethod('ListPodSandbox', ListPodSandboxRequestSchema, ListPodSandboxResponseSchema),
  CreateContainer: runtimeMethod('CreateContainer', CreateContainerRequestSchema, CreateContainerResponseSchema),
  StartContainer: runtimeMethod('StartContainer', StartContainerRequestSchema, StartContainerResponseSchema),
  StopContainer: runtimeMethod('StopContainer', StopContainerRequestSchema, StopContainerResponseSchema),
  RemoveContainer: runtimeMethod('RemoveContainer', RemoveContainerRequestSchema, RemoveContainerResponseSchema),
  ListContainers: runtimeMethod('ListContainers', ListContainersRequestSchema, ListContainersResponseSchema),
  ContainerStatus: runtimeMethod('ContainerStatus', ContainerStatusRequestSchema, ContainerStatusResponseSchema),
  UpdateContainerResources: runtimeMethod(
    'UpdateContainerResources',
    UpdateContainerResourcesRequestSchema,
    UpdateContainerResourcesResponseSchema,
  ),
} as const;

/** The server-streaming event method (relayed raw; named here for tests and tools). */
export const containerEventsPath = '/runtime.v1.RuntimeService/GetContainerEvents';
