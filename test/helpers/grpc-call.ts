// Raw gRPC calls from tests and the benchmark, with @grpc/grpc-js as the client (as kubelet uses a
// real gRPC client): bytes in, bytes out, so relayed messages can be compared byte for byte.
import * as grpc from '@grpc/grpc-js';

export interface UnaryOutcome {
  readonly error: grpc.ServiceError | null;
  readonly response: Buffer | null;
  readonly headers: grpc.Metadata | null;
  readonly trailers: grpc.Metadata | null;
}

const identity = (value: Buffer): Buffer => value;

export function createRawClient(socketPath: string): grpc.Client {
  return new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
}

export function callUnary(
  client: grpc.Client,
  path: string,
  request: Uint8Array,
  metadata: Record<string, string> = {},
  options: grpc.CallOptions = {},
): Promise<UnaryOutcome> {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let trailers: grpc.Metadata | null = null;
    let outcome: { error: grpc.ServiceError | null; response: Buffer | null } | null = null;
    let statusSeen = false;
    const settle = (): void => {
      if (outcome !== null && statusSeen) resolve({ ...outcome, headers, trailers });
    };
    const call = client.makeUnaryRequest(path, identity, identity, Buffer.from(request), md, options, (error, response) => {
      outcome = { error: error ?? null, response: response ?? null };
      settle();
    });
    call.on('metadata', (received: grpc.Metadata) => {
      headers = received;
    });
    call.on('status', (status: grpc.StatusObject) => {
      trailers = status.metadata;
      statusSeen = true;
      settle();
    });
  });
}

/** Reads a server stream to its end: the messages in order, and the final status. */
export function callServerStream(
  client: grpc.Client,
  path: string,
  request: Uint8Array,
  metadata: Record<string, string> = {},
): Promise<{ messages: Buffer[]; status: grpc.StatusObject }> {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    const call = client.makeServerStreamRequest(path, identity, identity, Buffer.from(request), md, {});
    call.on('data', (message: Buffer) => messages.push(message));
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
  });
}
