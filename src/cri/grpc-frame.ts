// gRPC's length-prefixed message framing: 1 byte compressed flag, 4 bytes big-endian length, then
// the message (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

export const frameHeaderBytes = 5;

/** Larger than any CRI request kubelet sends (its own limit is 16 MiB). */
export const maxFrameBytes = 16 * 1024 * 1024;

export interface GrpcFrame {
  readonly compressed: boolean;
  readonly message: Uint8Array;
}

export type FrameParseResult =
  | { readonly ok: true; readonly frames: readonly GrpcFrame[] }
  | { readonly ok: false; readonly reason: 'truncated-frame' | 'frame-too-large'; readonly message: string };

export function encodeGrpcFrame(message: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + message.length);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, frameHeaderBytes);
  return frame;
}

/** Splits a complete HTTP/2 body into its frames; a body that ends inside a frame is an error. */
export function parseGrpcFrames(body: Uint8Array, maxBytes = maxFrameBytes): FrameParseResult {
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const frames: GrpcFrame[] = [];
  let offset = 0;
  while (offset < view.length) {
    if (view.length - offset < frameHeaderBytes) {
      return truncated(`the body ends inside a gRPC frame header (${view.length - offset} of 5 bytes)`);
    }
    const length = view.readUInt32BE(offset + 1);
    if (length > maxBytes) {
      return {
        ok: false,
        reason: 'frame-too-large',
        message: `a gRPC frame announces ${length} bytes, more than the ${maxBytes} allowed`,
      };
    }
    const start = offset + frameHeaderBytes;
    if (view.length - start < length) {
      return truncated(`the body ends inside a gRPC frame (${view.length - start} of ${length} bytes)`);
    }
    frames.push({ compressed: view[offset] === 1, message: view.subarray(start, start + length) });
    offset = start + length;
  }
  return { ok: true, frames };
}

function truncated(message: string): FrameParseResult {
  return { ok: false, reason: 'truncated-frame', message };
}

/**
 * Reassembles frames from a stream of chunks, for readers of server streams (tests, benchmark).
 * `push` returns the frames completed by the chunk.
 */
export class GrpcFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): GrpcFrame[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const frames: GrpcFrame[] = [];
    let offset = 0;
    while (this.pending.length - offset >= frameHeaderBytes) {
      const length = this.pending.readUInt32BE(offset + 1);
      const end = offset + frameHeaderBytes + length;
      if (end > this.pending.length) break;
      frames.push({ compressed: this.pending[offset] === 1, message: this.pending.subarray(offset + frameHeaderBytes, end) });
      offset = end;
    }
    this.pending = this.pending.subarray(offset);
    return frames;
  }

  /** Bytes of an unfinished frame; non-zero at the end of a stream means it was truncated. */
  get pendingBytes(): number {
    return this.pending.length;
  }
}
