// Byte-exact relay of one call of any kind (unary, server or client stream, methods unknown to the
// proto): bodies are piped both ways with backpressure; headers, trailers, trailers-only answers,
// resets and cancellations are carried across.
import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { GrpcStatus, parseGrpcStatus, type GrpcError } from './grpc-status.js';
import { formatDownstreamHeaders, formatUpstreamHeaders, respondWithStatus, statusForResetCode, statusTrailers } from './grpc-http2.js';
import type { RelayCall } from './relay-call.js';
import { cancelCode } from './upstream.js';

export type UpstreamCall =
  | { readonly ok: true; readonly stream: ClientHttp2Stream; readonly session: ClientHttp2Session }
  | { readonly ok: false; readonly error: GrpcError };

/** Starts the upstream call (UNAVAILABLE when no connection can be made). */
export function openUpstream(call: RelayCall): UpstreamCall {
  try {
    const opened = call.upstream.request(formatUpstreamHeaders(call.headers));
    call.sentToRuntime();
    return { ok: true, ...opened };
  } catch (error) {
    return { ok: false, error: { code: GrpcStatus.UNAVAILABLE, message: `runtime at ${call.upstream.path} is not reachable: ${(error as Error).message}` } };
  }
}

/** The error a caller gets when the upstream stream closed without a gRPC status. */
export function describeUpstreamClose(call: RelayCall, upstream: ClientHttp2Stream, session: ClientHttp2Session): GrpcError {
  const connectionFailure = call.upstream.describeFailure(session);
  if (connectionFailure !== null) return { code: GrpcStatus.UNAVAILABLE, message: connectionFailure };
  const rstCode = upstream.rstCode ?? constants.NGHTTP2_NO_ERROR;
  if (rstCode === constants.NGHTTP2_NO_ERROR) {
    return { code: GrpcStatus.INTERNAL, message: `runtime at ${call.upstream.path} ended the call without a gRPC status` };
  }
  return { code: statusForResetCode(rstCode), message: `runtime at ${call.upstream.path} reset the call (HTTP/2 error ${rstCode})` };
}

/**
 * Relays one call body for body. Bodies are forwarded chunk by chunk with explicit backpressure
 * rather than `pipe`: a pipe costs a dozen listeners and their teardown per direction, which was
 * a measurable share of the relay's CPU per unary call.
 */
export function relayStream(call: RelayCall): void {
  const opened = openUpstream(call);
  if (!opened.ok) {
    call.settle(opened.error.code);
    respondWithStatus(call.stream, opened.error);
    return;
  }
  const { stream: upstream, session } = opened;
  const downstream = call.stream;
  let trailers: IncomingHttpHeaders | null = null;
  let responding = false;
  let upstreamEnded = false;
  let upstreamClosed = false;
  let wantsTrailers = false;
  let failure: GrpcError | null = null;

  // Trailers go out once the downstream body is flushed (ended after upstream 'end') AND the
  // upstream trailers arrived, or the upstream closed without them.
  const sendTrailers = (): void => {
    if (!wantsTrailers || downstream.destroyed) return;
    if (trailers !== null) {
      wantsTrailers = false;
      call.settle(parseGrpcStatus(trailers['grpc-status'] as string | undefined));
      downstream.sendTrailers(formatDownstreamHeaders(trailers, false));
    } else if (upstreamClosed || failure !== null) {
      wantsTrailers = false;
      const error = failure ?? call.abortedWith ?? describeUpstreamClose(call, upstream, session);
      call.settle(error.code);
      downstream.sendTrailers(statusTrailers(error));
    }
  };

  /** Ends the downstream response with `error`, whatever state it is in. */
  const fail = (error: GrpcError): void => {
    if (failure !== null || (call.done && call.abortedWith === null)) return;
    failure = error;
    if (!downstream.headersSent) {
      call.settle(error.code);
      respondWithStatus(downstream, error);
      return;
    }
    if (!downstream.writableEnded) downstream.end();
    sendTrailers();
  };

  // Caller → runtime.
  const resumeDownstream = (): void => {
    downstream.resume();
  };
  downstream.on('data', (chunk: Buffer) => {
    if (upstream.destroyed) return;
    if (!upstream.write(chunk)) {
      downstream.pause();
      upstream.once('drain', resumeDownstream);
    }
  });
  downstream.on('end', () => {
    if (!upstream.destroyed) upstream.end();
  });

  // Runtime → caller.
  const resumeUpstream = (): void => {
    upstream.resume();
  };
  upstream.on('response', (headers, flags) => {
    if (downstream.destroyed) return;
    if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only: the status is in the headers and there is no body.
      call.settle(parseGrpcStatus(headers['grpc-status'] as string | undefined));
      downstream.respond(formatDownstreamHeaders(headers, true), respondTrailersOnly);
      return;
    }
    responding = true;
    downstream.respond(formatDownstreamHeaders(headers, true), respondWithTrailers);
  });
  upstream.on('data', (chunk: Buffer) => {
    if (!responding || failure !== null || downstream.destroyed) return;
    if (!downstream.write(chunk)) {
      upstream.pause();
      downstream.once('drain', resumeUpstream);
    }
  });
  upstream.on('trailers', (received) => {
    trailers = received;
    call.answeredByRuntime();
    sendTrailers();
  });
  upstream.on('end', () => {
    upstreamEnded = true;
    if (responding && failure === null && !downstream.destroyed && !downstream.writableEnded) downstream.end();
  });
  downstream.on('wantTrailers', () => {
    wantsTrailers = true;
    sendTrailers();
  });
  upstream.on('error', (error: Error) => {
    call.logger?.debug({ method: call.method, err: error.message }, 'runtime stream error');
  });
  upstream.on('close', () => {
    upstreamClosed = true;
    call.answeredByRuntime();
    if (upstreamEnded || call.done) {
      sendTrailers();
      return;
    }
    fail(describeUpstreamClose(call, upstream, session));
  });
  call.onAbort(() => {
    if (!upstream.closed) upstream.close(cancelCode);
    const reason = call.abortedWith;
    if (reason !== null && reason.code !== GrpcStatus.CANCELLED) fail(reason);
  });
}

// Shared option objects (node copies them). No `date` header of the relay's own: the caller sees
// the runtime's headers as sent.
const respondTrailersOnly = { endStream: true, sendDate: false } as const;
const respondWithTrailers = { waitForTrailers: true, sendDate: false } as const;
