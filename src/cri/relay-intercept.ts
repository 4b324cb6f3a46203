// An intercepted unary call apart from the frames that carry it: the request body is collected,
// decoded and decided on, the body to forward is built (as received, with fields set after it, or
// rewritten), and the runtime's answer is read back for the interceptor's afterResponse.
import type { Message } from '@bufbuild/protobuf';
import { decodeUnaryBody, encodeForwardBody } from './codec.js';
import { frameHeaderBytes, maxFrameBytes } from './grpc-frame.js';
import { parseMetadata, type HeaderList } from './grpc-http2.js';
import { GrpcStatus, type GrpcError } from './grpc-status.js';
import type { CallContext, CallResult, InterceptDecision, Interceptor, RelayLogger } from './relay.js';

type Decision = InterceptDecision<Message, Message>;

/**
 * What to do with the call: forward this body to the runtime (once `ready` resolves, when the
 * decision has one), or answer the caller with an error.
 */
export type InterceptOutcome = { readonly forward: Buffer; readonly ready: Promise<unknown> | undefined } | { readonly reject: GrpcError };

/** A request body larger than this is refused: no CRI request comes near it. */
const maxRequestBytes = maxFrameBytes + frameHeaderBytes;

export class InterceptedCall {
  private readonly requestChunks: Buffer[] = [];
  private requestBytes = 0;
  private readonly responseChunks: Buffer[] = [];
  private afterResponse: Extract<Decision, { forward: Message }>['afterResponse'];
  private reported = false;
  private controller: AbortController | null = null;
  private aborted = false;

  constructor(
    private readonly interceptor: Interceptor,
    readonly method: string,
    private readonly headers: HeaderList,
    private readonly deadlineMs: number | null,
    private readonly logger: RelayLogger | undefined,
  ) {}

  /** Adds request bytes; false once the body is larger than any request may be. */
  appendRequest(chunk: Buffer): boolean {
    this.requestBytes += chunk.length;
    if (this.requestBytes > maxRequestBytes) return false;
    this.requestChunks.push(chunk);
    return true;
  }

  appendResponse(chunk: Buffer): void {
    this.responseChunks.push(chunk);
  }

  /** The call ended early (the caller went away, its deadline passed, the relay closed). */
  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }

  /** Decodes the request and asks the interceptor; never throws. */
  async decide(): Promise<InterceptOutcome> {
    const body = joinChunks(this.requestChunks);
    const decoded = decodeUnaryBody(this.interceptor.method.request, body);
    if (!decoded.ok) return { reject: { code: GrpcStatus.INVALID_ARGUMENT, message: `cri-rebalancer could not read the request: ${decoded.message}` } };
    let decision: Decision;
    try {
      decision = (await this.interceptor.intercept(decoded.message, this.context())) as Decision;
    } catch (error) {
      return { reject: this.interceptorFailed(error) };
    }
    if ('reject' in decision) return decision;
    this.afterResponse = decision.afterResponse;
    try {
      return { forward: encodeForwardBody(this.interceptor.method.request, { message: decoded.message, body }, decision.forward, decision.overrides), ready: decision.ready };
    } catch (error) {
      const failure = { code: GrpcStatus.INTERNAL, message: `cri-rebalancer could not encode the rewritten ${this.method} request: ${(error as Error).message}` };
      this.report({ ok: false, error: failure });
      return { reject: failure };
    }
  }

  /** Waits for a decision's `ready`; its failure (null when none), which the interceptor hears too. */
  async whenReady(ready: Promise<unknown>): Promise<GrpcError | null> {
    try {
      await ready;
      return null;
    } catch (error) {
      const failure = this.interceptorFailed(error);
      this.report({ ok: false, error: failure });
      return failure;
    }
  }

  /** A throw from the interceptor or a rejected `ready`: logged, and INTERNAL for the caller. */
  private interceptorFailed(error: unknown): GrpcError {
    this.logger?.error({ method: this.method, err: (error as Error).message }, 'interceptor failed');
    return { code: GrpcStatus.INTERNAL, message: `cri-rebalancer failed to handle ${this.method}: ${(error as Error).message}` };
  }

  /** The runtime answered with `status`: the interceptor hears the decoded response or the error. */
  reportStatus(status: GrpcError): void {
    if (status.code !== GrpcStatus.OK) {
      this.report({ ok: false, error: status });
      return;
    }
    const decoded = decodeUnaryBody(this.interceptor.method.response, joinChunks(this.responseChunks));
    if (!decoded.ok) {
      this.logger?.warn({ method: this.method, err: decoded.message }, 'runtime response did not decode');
      this.report({ ok: false, error: { code: GrpcStatus.INTERNAL, message: decoded.message } });
      return;
    }
    this.report({ ok: true, response: decoded.message });
  }

  /** Calls afterResponse once, if the decision forwarded the call with one. */
  report(result: CallResult<Message>): void {
    if (this.reported || this.afterResponse === undefined) return;
    this.reported = true;
    const afterResponse = this.afterResponse;
    const failed = (error: unknown): void => this.logger?.error({ method: this.method, err: (error as Error).message }, 'afterResponse hook failed');
    try {
      Promise.resolve(afterResponse(result)).catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Metadata and signal are made when an interceptor asks: most never do, and each costs time on the create's path. */
  private context(): CallContext {
    const call = this;
    return {
      method: this.method,
      deadlineMs: this.deadlineMs,
      get metadata() {
        return parseMetadata(call.headers);
      },
      get signal() {
        call.controller ??= new AbortController();
        if (call.aborted) call.controller.abort();
        return call.controller.signal;
      },
    };
  }
}

/** One buffer from the chunks; a single chunk (a unary message usually arrives as one) is used as is. */
export function joinChunks(chunks: readonly Buffer[]): Buffer {
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
