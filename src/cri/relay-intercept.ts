// An intercepted unary call: read the request, decode it, let the interceptor decide, forward the
// request (as received, with fields set after it, or rewritten), show the interceptor the
// runtime's answer, then relay that answer to the caller unchanged.
import { constants, type IncomingHttpHeaders } from 'node:http2';
import type { Message } from '@bufbuild/protobuf';
import { decodeUnaryBody, encodeForwardBody } from './codec.js';
import { frameHeaderBytes, maxFrameBytes } from './grpc-frame.js';
import { formatDownstreamHeaders, parseGrpcMessage, parseMetadata, respondWithStatus } from './grpc-http2.js';
import { GrpcStatus, parseGrpcStatus, type GrpcError } from './grpc-status.js';
import type { CallResult, InterceptDecision, Interceptor } from './relay.js';
import type { RelayCall } from './relay-call.js';
import { describeUpstreamClose, openUpstream } from './relay-stream.js';
import { cancelCode } from './upstream.js';

type Decision = InterceptDecision<Message, Message>;

interface UpstreamAnswer {
  readonly headers: IncomingHttpHeaders | null;
  readonly trailersOnly: boolean;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | null;
  /** Set when the call failed below gRPC (connection, reset, abort). */
  readonly failure: GrpcError | null;
}

export async function relayIntercepted(call: RelayCall, interceptor: Interceptor): Promise<void> {
  const body = await readRequestBody(call);
  if (body === null) return;
  const decoded = decodeUnaryBody(interceptor.method.request, body);
  if (!decoded.ok) {
    answer(call, { code: GrpcStatus.INVALID_ARGUMENT, message: `cri-rebalancer could not read the request: ${decoded.message}` });
    return;
  }
  let decision: Decision;
  try {
    decision = (await interceptor.intercept(decoded.message, {
      method: call.method,
      metadata: parseMetadata(call.headers),
      deadlineMs: call.deadlineMs,
      signal: call.signal,
    })) as Decision;
  } catch (error) {
    call.logger?.error({ method: call.method, err: (error as Error).message }, 'interceptor failed');
    answer(call, { code: GrpcStatus.INTERNAL, message: `cri-rebalancer failed to handle ${call.method}: ${(error as Error).message}` });
    return;
  }
  if ('reject' in decision) {
    answer(call, decision.reject);
    return;
  }
  const after = async (result: CallResult<Message>): Promise<void> => {
    try {
      await decision.afterResponse?.(result);
    } catch (error) {
      call.logger?.error({ method: call.method, err: (error as Error).message }, 'afterResponse hook failed');
    }
  };
  if (call.abortedWith !== null) {
    answer(call, call.abortedWith);
    await after({ ok: false, error: call.abortedWith });
    return;
  }
  let forwardBody: Buffer;
  try {
    forwardBody = encodeForwardBody(interceptor.method.request, { message: decoded.message, body }, decision.forward, decision.overrides);
  } catch (error) {
    const failure = { code: GrpcStatus.INTERNAL, message: `cri-rebalancer could not encode the rewritten ${call.method} request: ${(error as Error).message}` };
    answer(call, failure);
    await after({ ok: false, error: failure });
    return;
  }
  const upstream = await forward(call, forwardBody);
  const result = readResult(call, interceptor, upstream);
  relayAnswer(call, upstream, result);
  await after(result);
}

function answer(call: RelayCall, error: GrpcError): void {
  call.settle(error.code);
  respondWithStatus(call.stream, error);
}

/** The whole request body, or null when the caller went away or it is too large (answered). */
function readRequestBody(call: RelayCall): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const removeAbortListener = call.onAbort(() => resolve(null));
    call.stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxFrameBytes + frameHeaderBytes) {
        call.stream.removeAllListeners('data');
        removeAbortListener();
        answer(call, { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `request larger than ${maxFrameBytes} bytes` });
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    call.stream.on('end', () => {
      removeAbortListener();
      resolve(call.abortedWith === null ? joinChunks(chunks) : null);
    });
  });
}

/** One buffer from the chunks read; a unary message usually arrives as one chunk, used as is. */
function joinChunks(chunks: readonly Buffer[]): Buffer {
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/**
 * Sends the request upstream and collects the whole answer. It is complete once the body ended and
 * the trailers came (or the headers ended the stream): the stream's 'close' follows a little later
 * and is not waited for, except to learn why an incomplete call failed.
 */
function forward(call: RelayCall, body: Buffer): Promise<UpstreamAnswer> {
  return new Promise((resolve) => {
    const opened = openUpstream(call);
    if (!opened.ok) {
      resolve({ headers: null, trailersOnly: false, body: Buffer.alloc(0), trailers: null, failure: opened.error });
      return;
    }
    const { stream: upstream, session } = opened;
    let headers: IncomingHttpHeaders | null = null;
    let trailersOnly = false;
    let trailers: IncomingHttpHeaders | null = null;
    let ended = false;
    let finished = false;
    const chunks: Buffer[] = [];
    const removeAbortListener = call.onAbort(() => {
      if (!upstream.closed) upstream.close(cancelCode);
    });
    const finish = (failure: GrpcError | null): void => {
      if (finished) return;
      finished = true;
      call.answeredByRuntime();
      removeAbortListener();
      resolve({ headers, trailersOnly, body: joinChunks(chunks), trailers, failure });
    };
    const complete = (): boolean => ended && (trailersOnly || trailers !== null);
    upstream.on('response', (received, flags) => {
      headers = received;
      trailersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
    upstream.on('trailers', (received) => {
      trailers = received;
      if (complete()) finish(call.abortedWith);
    });
    upstream.on('end', () => {
      ended = true;
      if (complete()) finish(call.abortedWith);
    });
    upstream.on('error', (error: Error) => {
      call.logger?.debug({ method: call.method, err: error.message }, 'runtime stream error');
    });
    upstream.on('close', () => {
      // A trailers-only answer is whole even when its end was not read before the close.
      const answered = trailersOnly || (ended && trailers !== null);
      finish(call.abortedWith ?? (answered ? null : describeUpstreamClose(call, upstream, session)));
    });
    upstream.end(body);
  });
}

/** What the interceptor's afterResponse sees. */
function readResult(call: RelayCall, interceptor: Interceptor, upstream: UpstreamAnswer): CallResult<Message> {
  if (upstream.failure !== null) return { ok: false, error: upstream.failure };
  const status = upstream.trailersOnly ? upstream.headers : upstream.trailers;
  const code = parseGrpcStatus(status?.['grpc-status'] as string | undefined);
  if (code !== GrpcStatus.OK) {
    return { ok: false, error: { code, message: parseGrpcMessage(status?.['grpc-message']) } };
  }
  const decoded = decodeUnaryBody(interceptor.method.response, upstream.body);
  if (!decoded.ok) {
    call.logger?.warn({ method: call.method, err: decoded.message }, 'runtime response did not decode');
    return { ok: false, error: { code: GrpcStatus.INTERNAL, message: decoded.message } };
  }
  return { ok: true, response: decoded.message };
}

/** The runtime's answer, exactly as received, or the failure as a gRPC status. */
function relayAnswer(call: RelayCall, upstream: UpstreamAnswer, result: CallResult<Message>): void {
  const stream = call.stream;
  if (stream.destroyed || stream.closed) return;
  if (upstream.failure !== null || upstream.headers === null) {
    answer(call, upstream.failure ?? { code: GrpcStatus.INTERNAL, message: 'runtime sent no response headers' });
    return;
  }
  call.settle(result.ok ? GrpcStatus.OK : result.error.code);
  if (upstream.trailersOnly) {
    stream.respond(formatDownstreamHeaders(upstream.headers, true), { endStream: true });
    return;
  }
  const trailers = upstream.trailers ?? {};
  stream.respond(formatDownstreamHeaders(upstream.headers, true), { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(formatDownstreamHeaders(trailers, false)));
  stream.end(upstream.body);
}
