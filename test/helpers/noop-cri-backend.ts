// A no-op CRI runtime for relay tests and the proxy benchmark: a raw HTTP/2 gRPC server on a unix
// socket that answers any method without doing anything, steered by request metadata:
//   x-noop-status / x-noop-message   answer with this gRPC error (trailers-only)
//   x-noop-header-NAME               echoed back as response header NAME
//   x-noop-trailer-NAME              echoed back as trailer NAME
//   x-noop-delay-ms                  wait before answering
//   x-noop-hang                      never answer (deadline and cancellation tests)
//   x-noop-reset                     reset the stream with this HTTP/2 code after the headers
//   x-noop-events                    GetContainerEvents: how many events to stream
// Version answers a VersionResponse, CreateContainer a CreateContainerResponse, GetContainerEvents
// streams ContainerEventResponse messages "c0", "c1", ...; List* methods answer an empty list;
// every other method echoes the request body, so unknown methods can be checked byte for byte.
import { create, toBinary } from '@bufbuild/protobuf';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { rm } from 'node:fs/promises';
import { encodeGrpcFrame } from '../../src/cri/grpc-frame.js';
import {
  ContainerEventResponseSchema,
  CreateContainerResponseSchema,
  VersionResponseSchema,
} from '../../src/cri/gen/runtime/v1/api_pb.js';

export interface BackendCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface NoopBackend {
  readonly path: string;
  /** Calls whose request body was read completely, in arrival order. */
  readonly calls: BackendCall[];
  /** How many calls the caller (the relay) reset before they finished. */
  readonly cancelled: () => number;
  /** Resolves at the next cancelled call. */
  nextCancel(): Promise<void>;
  /** The container id CreateContainer answers with. */
  createdContainerId: string;
  /** Paths never answered, for clients that cannot send x-noop-hang. */
  readonly hangPaths: Set<string>;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Announces GOAWAY on every open connection, as a runtime that shuts down does; calls in flight go on. */
  goAway(): void;
  close(): Promise<void>;
}

const http2Settings = { initialWindowSize: 4 * 1024 * 1024 };

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function prefixed(headers: IncomingHttpHeaders, prefix: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(prefix) && value !== undefined) out[name.slice(prefix.length)] = value;
  }
  return out;
}

function responseBody(path: string, request: Buffer, backend: NoopBackend): Buffer {
  if (path.endsWith('/Version')) {
    return encodeGrpcFrame(
      toBinary(VersionResponseSchema, create(VersionResponseSchema, { version: '0.1.0', runtimeName: 'noop', runtimeVersion: '0.0.1', runtimeApiVersion: 'v1' })),
    );
  }
  if (path.endsWith('/CreateContainer')) {
    return encodeGrpcFrame(toBinary(CreateContainerResponseSchema, create(CreateContainerResponseSchema, { containerId: backend.createdContainerId })));
  }
  if (/\/List[A-Za-z]*$/u.test(path)) return encodeGrpcFrame(new Uint8Array());
  return request;
}

async function streamEvents(stream: ServerHttp2Stream, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const event = create(ContainerEventResponseSchema, { containerId: `c${i}`, createdAt: BigInt(i) });
    if (!stream.write(encodeGrpcFrame(toBinary(ContainerEventResponseSchema, event)))) {
      await new Promise((resolve) => stream.once('drain', resolve));
    }
    if (stream.destroyed) return;
  }
}

export async function startNoopBackend(path: string): Promise<NoopBackend> {
  await rm(path, { force: true });
  let cancelled = 0;
  let waiters: Array<() => void> = [];
  const backend: NoopBackend = {
    path,
    calls: [],
    cancelled: () => cancelled,
    nextCancel: () => new Promise((resolve) => waiters.push(resolve)),
    createdContainerId: 'f'.repeat(64),
    hangPaths: new Set(),
    connections: () => connections,
    goAway: () => {
      for (const session of sessions) session.close();
    },
    close: () =>
      new Promise((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
  const sessions = new Set<import('node:http2').Http2Session>();
  const server = createServer({ settings: http2Settings });
  let connections = 0;
  server.on('session', (session) => {
    connections += 1;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    const path = headers[':path'] ?? '';
    let done = false;
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (done) return;
      cancelled += 1;
      const pending = waiters;
      waiters = [];
      for (const resolve of pending) resolve();
    });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      backend.calls.push({ path, headers, body });
      if (header(headers, 'x-noop-hang') !== undefined || backend.hangPaths.has(path)) return;
      const answer = async (): Promise<void> => {
        const delayMs = Number(header(headers, 'x-noop-delay-ms') ?? 0);
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (stream.destroyed) return;
        const status = header(headers, 'x-noop-status');
        if (status !== undefined) {
          done = true;
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': status, 'grpc-message': header(headers, 'x-noop-message') ?? '' },
            { endStream: true },
          );
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...prefixed(headers, 'x-noop-header-') }, { waitForTrailers: true });
        const reset = header(headers, 'x-noop-reset');
        if (reset !== undefined) {
          done = true;
          stream.close(Number(reset));
          return;
        }
        stream.once('wantTrailers', () => {
          done = true;
          stream.sendTrailers({ 'grpc-status': '0', ...prefixed(headers, 'x-noop-trailer-') });
        });
        if (path.endsWith('/GetContainerEvents')) {
          await streamEvents(stream, Number(header(headers, 'x-noop-events') ?? 0));
          stream.end();
          return;
        }
        stream.end(responseBody(path, body, backend));
      };
      void answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return backend;
}
