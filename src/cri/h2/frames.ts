// HTTP/2 frames (RFC 9113 §4, §6) as the relay reads and writes them: a reader that splits a byte
// stream into frames without copying, and writers for the few frames the relay makes itself.

export const frameHeaderBytes = 9;
/** The connection preface a client sends first (RFC 9113 §3.4). */
export const clientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Frame size and window every peer starts with, before its SETTINGS say otherwise. */
export const defaultMaxFrameBytes = 16_384;
export const defaultWindowBytes = 65_535;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const FrameFlag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
} as const;

export const Setting = { HEADER_TABLE_SIZE: 0x1, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5 } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  /** The frame's payload, padding included. */
  readonly payload: Buffer;
  /** The whole frame, header included, for forwarding unchanged. */
  readonly raw: Buffer;
}

/** A malformed frame: a connection error of `code` (RFC 9113 §5.4.1). */
export class H2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'H2ProtocolError';
  }
}

/** Splits chunks of a connection's bytes into frames; a frame cut across chunks waits for the rest. */
export class FrameReader {
  private pending: Buffer | null = null;

  read(chunk: Buffer): Frame[] {
    const bytes = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    while (bytes.length - offset >= frameHeaderBytes) {
      const length = bytes.readUIntBE(offset, 3);
      const end = offset + frameHeaderBytes + length;
      if (end > bytes.length) break;
      const raw = bytes.subarray(offset, end);
      frames.push({ type: raw[3] as number, flags: raw[4] as number, streamId: raw.readUInt32BE(5) & 0x7fffffff, payload: raw.subarray(frameHeaderBytes), raw });
      offset = end;
    }
    this.pending = offset === bytes.length ? null : bytes.subarray(offset);
    return frames;
  }
}

/** The bytes of a DATA, HEADERS or PUSH_PROMISE payload without its padding (RFC 9113 §6.1). */
export function unpaddedPayload(frame: Frame): Buffer {
  if ((frame.flags & FrameFlag.PADDED) === 0) return frame.payload;
  const padBytes = frame.payload[0];
  if (padBytes === undefined || padBytes >= frame.payload.length) {
    throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `frame on stream ${frame.streamId} has more padding than payload`);
  }
  return frame.payload.subarray(1, frame.payload.length - padBytes);
}

/** The header block fragment of a HEADERS frame: its payload without padding and priority fields. */
export function headerBlockFragment(frame: Frame): Buffer {
  const fragment = unpaddedPayload(frame);
  if ((frame.flags & FrameFlag.PRIORITY) === 0) return fragment;
  if (fragment.length < 5) throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, `HEADERS on stream ${frame.streamId} is too short for its priority`);
  return fragment.subarray(5);
}

/** SETTINGS parameters as [identifier, value] pairs. */
export function parseSettings(payload: Buffer): Array<[number, number]> {
  if (payload.length % 6 !== 0) throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6 bytes');
  const settings: Array<[number, number]> = [];
  for (let offset = 0; offset < payload.length; offset += 6) settings.push([payload.readUInt16BE(offset), payload.readUInt32BE(offset + 2)]);
  return settings;
}

export function formatFrame(type: number, flags: number, streamId: number, payload: Uint8Array = emptyPayload): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payload.length);
  frame.writeUIntBE(payload.length, 0, 3);
  frame[3] = type;
  frame[4] = flags;
  frame.writeUInt32BE(streamId, 5);
  frame.set(payload, frameHeaderBytes);
  return frame;
}

const emptyPayload = new Uint8Array(0);

/** A header block as HEADERS followed by CONTINUATION frames, each within the peer's frame size. */
export function formatHeadersFrames(streamId: number, block: Buffer, endStream: boolean, maxFrameBytes: number): Buffer {
  const endStreamFlag = endStream ? FrameFlag.END_STREAM : 0;
  if (block.length <= maxFrameBytes) return formatFrame(FrameType.HEADERS, endStreamFlag | FrameFlag.END_HEADERS, streamId, block);
  const frames: Buffer[] = [];
  for (let offset = 0; offset < block.length; offset += maxFrameBytes) {
    const last = offset + maxFrameBytes >= block.length;
    const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (offset === 0 ? endStreamFlag : 0) | (last ? FrameFlag.END_HEADERS : 0);
    frames.push(formatFrame(type, flags, streamId, block.subarray(offset, offset + maxFrameBytes)));
  }
  return Buffer.concat(frames);
}

export function formatRstStream(streamId: number, code: number): Buffer {
  return formatFrame(FrameType.RST_STREAM, 0, streamId, uint32(code));
}

export function formatWindowUpdate(streamId: number, increment: number): Buffer {
  return formatFrame(FrameType.WINDOW_UPDATE, 0, streamId, uint32(increment));
}

export function formatGoaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return formatFrame(FrameType.GOAWAY, 0, 0, payload);
}

function uint32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}
