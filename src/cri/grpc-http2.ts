// gRPC-over-HTTP/2 details the relay needs: which headers travel, deadlines from grpc-timeout,
// status responses, and what an HTTP/2 stream reset means as a gRPC status.
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { GrpcStatus, type GrpcError, type GrpcStatusCode } from './grpc-status.js';

const colon = 58; // ':' — pseudo-headers start with it

/** Request headers for the upstream call: the caller's, with the pseudo-headers HTTP/2 rebuilds. */
export function formatUpstreamHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  // for-in rather than Object.entries: this runs on every relayed call.
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === colon && name !== ':path' && name !== ':method' && name !== ':authority') continue;
    out[name] = value;
  }
  return out;
}

/**
 * Response headers or trailers to send downstream: all but the pseudo-headers (`:status` kept).
 * Returns `headers` itself when there is nothing to drop (the usual case): node's `respond` and
 * `sendTrailers` copy what they are given, so a copy here would only cost time.
 */
export function formatDownstreamHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>, keepStatus: boolean): OutgoingHttpHeaders {
  for (const name in headers) {
    if (isDroppedDownstream(name, headers[name], keepStatus)) return copyDownstreamHeaders(headers, keepStatus);
  }
  return headers as OutgoingHttpHeaders;
}

function copyDownstreamHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>, keepStatus: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (!isDroppedDownstream(name, value, keepStatus)) out[name] = value;
  }
  return out;
}

function isDroppedDownstream(name: string, value: unknown, keepStatus: boolean): boolean {
  return value === undefined || (name.charCodeAt(0) === colon && !(keepStatus && name === ':status'));
}

/** Request metadata as an interceptor sees it. */
export function parseMetadata(headers: IncomingHttpHeaders): Record<string, string | readonly string[]> {
  const metadata: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !name.startsWith(':')) metadata[name] = value;
  }
  return metadata;
}

const timeoutUnitsMs: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The grpc-timeout header ("100m", "5S") in ms, or null when absent or malformed. */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d{1,8})([HMSmun])$/u.exec(value);
  if (!match) return null;
  return Number(match[1]) * (timeoutUnitsMs[match[2] as string] ?? 0);
}

/** The gRPC status an HTTP/2 RST_STREAM code means (as gRPC clients read it). */
export function statusForResetCode(rstCode: number): GrpcStatusCode {
  switch (rstCode) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case constants.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** grpc-message is percent-encoded: anything outside printable ASCII, and '%' itself. */
export function formatGrpcMessage(message: string): string {
  return Array.from(Buffer.from(message, 'utf8'))
    .map((byte) => (byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

export function parseGrpcMessage(value: string | string[] | undefined): string {
  if (typeof value !== 'string') return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function statusTrailers(error: GrpcError): OutgoingHttpHeaders {
  return { 'grpc-status': String(error.code), 'grpc-message': formatGrpcMessage(error.message) };
}

/**
 * Answers a call with a gRPC status and no message (a trailers-only response). A no-op once
 * headers went out: such a call ends with trailers instead (see relay-stream.ts).
 */
export function respondWithStatus(stream: ServerHttp2Stream, error: GrpcError): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...statusTrailers(error) }, { endStream: true });
}
