// gRPC-over-HTTP/2 details the relay needs: header lists as HPACK gives them, metadata, deadlines
// from grpc-timeout, status headers, and what an HTTP/2 stream reset means as a gRPC status.
import { H2Error } from './h2/frames.js';
import { GrpcStatus, parseGrpcStatus, type GrpcError, type GrpcStatusCode } from './grpc-status.js';

/** A header block as decoded: [name, value] pairs in the order sent, names lower-case. */
export type HeaderList = ReadonlyArray<readonly [string, string]>;

/** The first value of `name`, or undefined. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [key, value] of headers) if (key === name) return value;
  return undefined;
}

/** Request metadata as an interceptor sees it: every header but the pseudo-headers, repeats as arrays. */
export function parseMetadata(headers: HeaderList): Record<string, string | readonly string[]> {
  const metadata: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    if (name.startsWith(':')) continue;
    const seen = metadata[name];
    if (seen === undefined) metadata[name] = value;
    else if (typeof seen === 'string') metadata[name] = [seen, value];
    else seen.push(value);
  }
  return metadata;
}

const timeoutUnitsMs: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The grpc-timeout header ("100m", "5S") in ms, or null when absent or malformed. */
export function parseGrpcTimeoutMs(value: string | undefined): number | null {
  if (value === undefined) return null;
  const match = /^(\d{1,8})([HMSmun])$/u.exec(value);
  if (!match) return null;
  return Number(match[1]) * (timeoutUnitsMs[match[2] as string] ?? 0);
}

/** The gRPC status an HTTP/2 RST_STREAM code means (as gRPC clients read it). */
export function statusForResetCode(rstCode: number): GrpcStatusCode {
  switch (rstCode) {
    case H2Error.REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case H2Error.CANCEL:
      return GrpcStatus.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case H2Error.INADEQUATE_SECURITY:
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

export function parseGrpcMessage(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The header block that ends a call with `error`: a whole trailers-only response when no response
 * headers were sent yet, else the trailers alone.
 */
export function formatStatusHeaders(error: GrpcError, trailersOnly: boolean): HeaderList {
  const status: Array<[string, string]> = [
    ['grpc-status', String(error.code)],
    ['grpc-message', formatGrpcMessage(error.message)],
  ];
  return trailersOnly ? [[':status', '200'], ['content-type', 'application/grpc'], ...status] : status;
}

/** The gRPC status an ending header block carries (UNKNOWN when it has none). */
export function parseStatusHeaders(headers: HeaderList): GrpcError {
  return { code: parseGrpcStatus(headerValue(headers, 'grpc-status')), message: parseGrpcMessage(headerValue(headers, 'grpc-message')) };
}
