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
    return { ok: true, ...call.upstream.request(formatUpstreamHeaders(call.headers)) };
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
  let upstreamEnded = false;
  let upstreamClosed = false;
  let wantsTrailers = false;
  let failure: GrpcError | null = null;

  // Trailers go out once the downstream body is flushed (pipe ended it after upstream 'end') AND
  // the upstream trailers arrived, or the upstream closed without them.
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
    upstream.unpipe(downstream);
    if (!downstream.writableEnded) downstream.end();
    sendTrailers();
  };

  downstream.pipe(upstream);
  upstream.on('response', (headers, flags) => {
    if (downstream.destroyed) return;
    if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only: the status is in the headers and there is no body.
      call.settle(parseGrpcStatus(headers['grpc-status'] as string | undefined));
      downstream.respond(formatDownstreamHeaders(headers, true), { endStream: true });
      return;
    }
    downstream.respond(formatDownstreamHeaders(headers, true), { waitForTrailers: true });
    upstream.pipe(downstream);
  });
  upstream.on('trailers', (received) => {
    trailers = received;
    sendTrailers();
  });
  upstream.on('end', () => {
    upstreamEnded = true;
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
