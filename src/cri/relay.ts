// The CRI relay: listens on a unix socket and forwards every call to the runtime's socket, frame
// by frame (src/cri/relay-connection.ts). Calls are relayed byte-exact (any method, unary or
// streaming, with headers, trailers, deadlines and cancellation), except the unary methods that
// have an interceptor: those are decoded, decided on by the daemon, and forwarded (as received,
// with fields set after them, or re-encoded with unknown fields kept), or answered with an error
// without reaching the runtime.
//
// The daemon's lifecycle logic (src/cri/lifecycle.ts) plugs in through `interceptors`:
//
//   const interceptors = new Map([
//     defineInterceptor(runtimeMethods.CreateContainer, async (request, context) => {
//       const placed = ...;                                    // decide
//       if (!placed.ok) return { reject: { code: GrpcStatus.RESOURCE_EXHAUSTED, message: '...' } };
//       return {
//         forward: request,
//         overrides: cpusetOverridesForCreate(placed.cpus, placed.mems),
//         afterResponse: async (result) => (result.ok ? record(result.response.containerId) : release()),
//       };
//     }),
//   ]);
//   const relay = await startRelay({ listenPath, upstreamPath, interceptors, logger });
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { GrpcError, GrpcStatusCode } from './grpc-status.js';
import type { UnaryMethod } from './methods.js';

export { runtimeMethods } from './methods.js';
export { GrpcStatus } from './grpc-status.js';
export type { GrpcError } from './grpc-status.js';

/** What an interceptor knows about the call besides the decoded request. */
export interface CallContext {
  /** The gRPC path, e.g. "/runtime.v1.RuntimeService/CreateContainer". */
  readonly method: string;
  /** Request metadata: every header except HTTP/2 pseudo-headers, lower-case names. */
  readonly metadata: Readonly<Record<string, string | readonly string[]>>;
  /** The caller's deadline in ms since the epoch (the `Date.now()` clock), or null without one. */
  readonly deadlineMs: number | null;
  /** Aborted when the caller cancels, its deadline passes, or the relay is closed. */
  readonly signal: AbortSignal;
}

/** The runtime's answer to a forwarded call: its decoded response, or the gRPC error it returned. */
export type CallResult<Res> =
  | { readonly ok: true; readonly response: Res }
  | { readonly ok: false; readonly error: GrpcError };

/**
 * An interceptor's decision.
 * - `forward`: send this request to the runtime: the one received (its bytes as they came, so
 *   it must not be changed in place) or a rewritten copy, followed by `overrides` when given: protobuf merges fields that come later
 *   into the message (a later scalar wins, sub-messages merge), so the runtime reads the request
 *   with those fields set and everything else, unknown fields included, exactly as sent. This is
 *   cheaper than a copy and a re-encode on the path of every create (see sentRequest). When
 *   `afterResponse` is given it is called exactly once, with the runtime's response or error (or
 *   CANCELLED / DEADLINE_EXCEEDED / UNAVAILABLE when the call never completed): record the new
 *   container id there, or release on error. It is called as the caller gets that answer, in the
 *   same turn, so the caller never waits for the bookkeeping, and work it queues synchronously
 *   (on the store's turn) comes before any call the caller makes next. A throw from it is logged.
 *   `ready`, when given, holds the call back until it resolves: a decision is known before its
 *   effects are durable (the create's checkpoint), and the relay prepares the call meanwhile. If
 *   it rejects, the caller gets INTERNAL and afterResponse hears that; nothing reaches the runtime.
 * - `reject`: answer the caller with this gRPC error; nothing reaches the runtime.
 */
export type InterceptDecision<Req, Res> =
  | {
      readonly forward: Req;
      readonly overrides?: Req;
      readonly ready?: Promise<unknown>;
      afterResponse?(result: CallResult<Res>): void | Promise<void>;
    }
  | { readonly reject: GrpcError };

export type InterceptFunction<Req extends DescMessage, Res extends DescMessage> = (
  request: MessageShape<Req>,
  context: CallContext,
) => InterceptDecision<MessageShape<Req>, MessageShape<Res>> | Promise<InterceptDecision<MessageShape<Req>, MessageShape<Res>>>;

/** One intercepted unary method. Build it with `defineInterceptor` so the types line up. */
export interface Interceptor<Req extends DescMessage = DescMessage, Res extends DescMessage = DescMessage> {
  readonly method: UnaryMethod<Req, Res>;
  readonly intercept: InterceptFunction<Req, Res>;
}

/** Interceptors by gRPC path. A throw or rejected promise from one answers INTERNAL (and is logged). */
export type Interceptors = ReadonlyMap<string, Interceptor>;

/** A `[path, interceptor]` entry for the `interceptors` map, typed by the method's schemas. */
export function defineInterceptor<Req extends DescMessage, Res extends DescMessage>(
  method: UnaryMethod<Req, Res>,
  intercept: InterceptFunction<Req, Res>,
): [string, Interceptor] {
  return [method.path, { method, intercept } as unknown as Interceptor];
}

/** The subset of pino the relay logs through. */
export interface RelayLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** One finished call, for metrics (time added by the daemon, error rates). */
export interface RelayedCall {
  readonly method: string;
  readonly intercepted: boolean;
  /** The gRPC status the caller received (CANCELLED when the caller went away first). */
  readonly code: GrpcStatusCode;
  /** From the call's arrival to the status the caller got. */
  readonly durationMs: number;
  /**
   * From sending the call to the runtime until its answer was complete; null when it never
   * reached the runtime (rejected, runtime unreachable). The rest of `durationMs` was spent in
   * the daemon: the relay, decisions, the checkpoint write.
   */
  readonly runtimeMs: number | null;
}

export interface RelayOptions {
  /** The socket kubelet connects to. Its directory is created (mode 0750) when missing. */
  readonly listenPath: string;
  /** The runtime's CRI socket. */
  readonly upstreamPath: string;
  /** Mode of the listening socket; root-only by default. */
  readonly socketMode?: number;
  readonly interceptors?: Interceptors;
  readonly logger?: RelayLogger;
  /** Called after every call; must not throw or block. */
  readonly observe?: (call: RelayedCall) => void;
}

export interface Relay {
  readonly listenPath: string;
  readonly upstreamPath: string;
  /** Calls being relayed now. */
  readonly inFlight: number;
  /**
   * Stops accepting connections and calls, lets calls in flight finish for up to `timeoutMs`
   * (then cancels them with UNAVAILABLE), closes the runtime connection and removes the socket.
   */
  close(options?: { readonly timeoutMs?: number }): Promise<void>;
}

/** Why the relay could not listen: the socket is served by a live process, or the path is not a socket. */
export class RelayListenError extends Error {
  constructor(
    readonly reason: 'socket-in-use' | 'not-a-socket' | 'listen-failed',
    message: string,
  ) {
    super(message);
    this.name = 'RelayListenError';
  }
}

/**
 * Listens on `listenPath` and relays to `upstreamPath`. A stale socket file left by a dead
 * process is replaced; a socket something still accepts on, or a path that is not a socket,
 * rejects with a RelayListenError that says what to do.
 */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  // Loaded on first use: modules that only build interceptors (and their unit tests) import this
  // file for its types and helpers without pulling in the relay itself.
  const { createRelayServer } = await import('./relay-server.js');
  return createRelayServer(options);
}
