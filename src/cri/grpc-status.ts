// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) and the error value
// the relay and the runtime client pass around.

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** A gRPC error as a value: the status code and the message a person reads. */
export interface GrpcError {
  readonly code: GrpcStatusCode;
  readonly message: string;
}

/** The status name for a code, e.g. 14 → "UNAVAILABLE" (for logs and messages). */
export function formatGrpcStatus(code: number): string {
  const entry = Object.entries(GrpcStatus).find(([, value]) => value === code);
  return entry ? entry[0] : `code ${code}`;
}

/** Reads a grpc-status header value; anything that is not a known code reads as UNKNOWN. */
export function parseGrpcStatus(value: string | undefined): GrpcStatusCode {
  const code = Number(value);
  return Number.isInteger(code) && code >= 0 && code <= 16 ? (code as GrpcStatusCode) : GrpcStatus.UNKNOWN;
}
