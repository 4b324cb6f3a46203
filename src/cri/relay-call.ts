// The life of one relayed call: its deadline, its abort signal (caller gone, deadline passed,
// relay closing), and the status it ended with.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { GrpcStatus, type GrpcError, type GrpcStatusCode } from './grpc-status.js';
import { parseGrpcTimeoutMs, respondWithStatus } from './grpc-http2.js';
import type { RelayLogger, RelayedCall } from './relay.js';
import type { UpstreamConnection } from './upstream.js';

/** setTimeout's limit; longer deadlines are left to the caller. */
const maxTimerMs = 2_147_483_647;

/** What the relay server learns about each call. */
export interface RelayCallHooks {
  /** Called once with the status the caller received; optional so unobserved calls build nothing. */
  readonly observe: ((call: RelayedCall) => void) | undefined;
  /** Called when the caller's stream closed: the call is no longer in flight. */
  closed(call: RelayCall): void;
}

export class RelayCall {
  readonly method: string;
  readonly deadlineMs: number | null;
  /** Made on first use: most calls never need an AbortSignal (it costs a few µs per call). */
  private controller: AbortController | null = null;
  private readonly abortListeners: Array<() => void> = [];
  private abortError: GrpcError | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly startedMs = performance.now();
  private runtimeStartedMs: number | null = null;
  private runtimeMs: number | null = null;
  private finished = false;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly upstream: UpstreamConnection,
    readonly logger: RelayLogger | undefined,
    readonly intercepted: boolean,
    private readonly hooks: RelayCallHooks,
  ) {
    this.method = headers[':path'] ?? '';
    const timeoutMs = parseGrpcTimeoutMs(headers['grpc-timeout']);
    this.deadlineMs = timeoutMs === null ? null : Date.now() + timeoutMs;
    if (timeoutMs !== null && timeoutMs < maxTimerMs) {
      this.timer = setTimeout(() => this.abort({ code: GrpcStatus.DEADLINE_EXCEEDED, message: `deadline of ${headers['grpc-timeout']} exceeded in cri-rebalancer` }), timeoutMs);
    }
    stream.on('close', () => {
      // The caller reset the stream, or the connection went away, before the call finished.
      if (!this.finished) this.abort({ code: GrpcStatus.CANCELLED, message: 'the caller cancelled the call' });
      this.settle(GrpcStatus.CANCELLED);
      hooks.closed(this);
    });
  }

  /** For interceptors: aborted together with `onAbort` listeners. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.abortError !== null) this.controller.abort();
    return this.controller.signal;
  }

  /** Runs `listener` once if the call is aborted; returns the function that removes it. */
  onAbort(listener: () => void): () => void {
    this.abortListeners.push(listener);
    return () => {
      const index = this.abortListeners.indexOf(listener);
      if (index >= 0) this.abortListeners.splice(index, 1);
    };
  }

  /** Why the call was aborted, or null while it runs. */
  get abortedWith(): GrpcError | null {
    return this.abortError;
  }

  /**
   * Ends the call early: a caller still waiting for headers gets `error` at once; handlers listen
   * on `signal` to cancel the runtime call (and to end a response already started).
   */
  abort(error: GrpcError): void {
    if (this.abortError !== null || this.finished) return;
    this.abortError = error;
    this.settle(error.code);
    respondWithStatus(this.stream, error);
    this.controller?.abort();
    for (const listener of this.abortListeners.splice(0)) listener();
  }

  /** The call went to the runtime now. */
  sentToRuntime(): void {
    this.runtimeStartedMs = performance.now();
  }

  /** The runtime's answer is complete, or its stream closed; the first time counts. */
  answeredByRuntime(): void {
    if (this.runtimeStartedMs !== null && this.runtimeMs === null) this.runtimeMs = performance.now() - this.runtimeStartedMs;
  }

  /** Records the status the caller received; the first one counts. */
  settle(code: GrpcStatusCode): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.answeredByRuntime();
    this.hooks.observe?.({ method: this.method, intercepted: this.intercepted, code, durationMs: performance.now() - this.startedMs, runtimeMs: this.runtimeMs });
  }

  get done(): boolean {
    return this.finished;
  }
}
