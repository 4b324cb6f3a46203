// Decoding and encoding CRI messages with @bufbuild/protobuf. Fields absent from proto/ are kept
// on decode and written back on encode, so a rewritten request loses nothing kubelet sent; a
// request forwarded unchanged, or with fields set after it, keeps the very bytes kubelet sent.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { encodeGrpcFrame, frameHeaderBytes, parseGrpcFrames } from './grpc-frame.js';

export type DecodeResult<Desc extends DescMessage> =
  | { readonly ok: true; readonly message: MessageShape<Desc> }
  | { readonly ok: false; readonly reason: 'malformed' | 'truncated-frame' | 'frame-too-large' | 'compressed' | 'frame-count'; readonly message: string };

export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): DecodeResult<Desc> {
  try {
    return { ok: true, message: fromBinary(schema, bytes, { readUnknownFields: true }) };
  } catch (error) {
    return { ok: false, reason: 'malformed', message: `${schema.name} did not decode: ${(error as Error).message}` };
  }
}

export function encodeMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return toBinary(schema, message, { writeUnknownFields: true });
}

/** Decodes the body of a unary call: exactly one uncompressed gRPC frame. */
export function decodeUnaryBody<Desc extends DescMessage>(schema: Desc, body: Uint8Array): DecodeResult<Desc> {
  const parsed = parseGrpcFrames(body);
  if (!parsed.ok) return { ok: false, reason: parsed.reason, message: `${schema.name}: ${parsed.message}` };
  const [frame, ...rest] = parsed.frames;
  if (frame === undefined || rest.length > 0) {
    return {
      ok: false,
      reason: 'frame-count',
      message: `${schema.name}: a unary call carries exactly one message, this one carried ${parsed.frames.length}`,
    };
  }
  if (frame.compressed) {
    return {
      ok: false,
      reason: 'compressed',
      message: `${schema.name}: compressed messages are not supported on intercepted calls; disable gRPC compression in the client`,
    };
  }
  return decodeMessage(schema, frame.message);
}

export function encodeUnaryBody<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Buffer {
  return encodeGrpcFrame(encodeMessage(schema, message));
}

/**
 * The body that forwards `forward` (the received message itself: its received bytes, no
 * re-encode), followed by `overrides` (see InterceptDecision in relay.ts).
 */
export function encodeForwardBody<Desc extends DescMessage>(
  schema: Desc,
  received: { readonly message: MessageShape<Desc>; readonly body: Buffer },
  forward: MessageShape<Desc>,
  overrides: MessageShape<Desc> | undefined,
): Buffer {
  if (forward === received.message && overrides === undefined) return received.body;
  const base = forward === received.message ? received.body.subarray(frameHeaderBytes) : encodeMessage(schema, forward);
  return encodeGrpcFrame(overrides === undefined ? base : Buffer.concat([base, encodeMessage(schema, overrides)]));
}
