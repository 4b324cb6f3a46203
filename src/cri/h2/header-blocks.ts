// Reassembles header blocks from HEADERS and the CONTINUATION frames that follow it (RFC 9113
// §6.2, §6.10): nothing else may come between them, and a block has a size limit.
import { FrameFlag, FrameType, H2Error, H2ProtocolError, headerBlockFragment, type Frame } from './frames.js';

export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly block: Buffer;
}

/** More than any CRI call's metadata; a peer that sends more is broken or hostile. */
const maxBlockBytes = 1024 * 1024;

export class HeaderBlockReader {
  private pending: { streamId: number; endStream: boolean; fragments: Buffer[]; bytes: number } | null = null;

  /** Whether a block is unfinished: only its CONTINUATION frames may come next. */
  get inBlock(): boolean {
    return this.pending !== null;
  }

  /** Takes a HEADERS or CONTINUATION frame; returns the block once its last fragment came. */
  push(frame: Frame): HeaderBlock | null {
    const endHeaders = (frame.flags & FrameFlag.END_HEADERS) !== 0;
    if (this.pending === null) {
      if (frame.type !== FrameType.HEADERS) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `CONTINUATION on stream ${frame.streamId} without HEADERS before it`);
      if (frame.streamId === 0) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
      const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
      const fragment = headerBlockFragment(frame);
      if (endHeaders) return { streamId: frame.streamId, endStream, block: fragment };
      this.pending = { streamId: frame.streamId, endStream, fragments: [fragment], bytes: fragment.length };
      return null;
    }
    const pending = this.pending;
    if (frame.type !== FrameType.CONTINUATION || frame.streamId !== pending.streamId) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `expected CONTINUATION on stream ${pending.streamId}, got frame type ${frame.type} on stream ${frame.streamId}`);
    }
    pending.bytes += frame.payload.length;
    if (pending.bytes > maxBlockBytes) throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `header block on stream ${pending.streamId} is larger than ${maxBlockBytes} bytes`);
    pending.fragments.push(frame.payload);
    if (!endHeaders) return null;
    this.pending = null;
    return { streamId: pending.streamId, endStream: pending.endStream, block: Buffer.concat(pending.fragments) };
  }
}
