// One kubelet connection, relayed frame by frame to a runtime connection of its own. Frames pass as
// they came (DATA, SETTINGS, WINDOW_UPDATE) except:
// - PINGs are answered by the relay on each side, as HTTP/2 makes them (of one connection, not of
//   the path): a runtime's BDP ping on every call (grpc-go sends one with each request's data)
//   would otherwise wake kubelet and the relay twice more while the runtime works, and kubelet's
//   keepalive asks whether its own connection is alive;
// - header blocks are decoded on arrival and re-encoded as plain literals, so the relay can end a
//   call itself (a rejection, a deadline, a runtime gone) without upsetting either side's HPACK
//   state, and learns each call's method and status on the way;
// - an intercepted call is held until the daemon decides; then it opens at the runtime with the
//   body the daemon chose, sent within the runtime's flow-control windows, or never reaches it.
// Calls open at the runtime in the order they are forwarded, so a stream's id there may differ from
// kubelet's (a rejected call takes none); frames are renumbered on the way. Stream windows stay end
// to end, and so does the connection window of the answers (what the relay drops is credited back
// to the runtime). kubelet's connection window is the relay's own: kubelet gets back what the relay
// passed on or dropped once half of it is used, so a call costs kubelet no window update while the
// runtime works on it, and the relay never holds more of kubelet's bytes than that window. What the
// relay sends the runtime stays within the runtime's connection window. When the runtime goes away,
// its calls end UNAVAILABLE and kubelet's connection stays: the next call opens a new runtime
// connection.
import { connect, type Socket } from 'node:net';
import { GrpcStatus, type GrpcError } from './grpc-status.js';
import { formatStatusHeaders, headerValue, parseGrpcTimeoutMs, parseStatusHeaders, statusForResetCode, type HeaderList } from './grpc-http2.js';
import { maxFrameBytes } from './grpc-frame.js';
import {
  clientPreface,
  defaultMaxFrameBytes,
  defaultWindowBytes,
  FrameFlag,
  FrameReader,
  FrameType,
  formatFrame,
  formatGoaway,
  formatHeadersFrames,
  formatRstStream,
  formatWindowUpdate,
  H2Error,
  H2ProtocolError,
  parseSettings,
  Setting,
  unpaddedPayload,
  type Frame,
} from './h2/frames.js';
import { HeaderBlockReader, type HeaderBlock } from './h2/header-blocks.js';
import { HpackDecoder } from './h2/hpack-decoder.js';
import { encodeLiteralHeaderBlock } from './h2/hpack-encode.js';
import { InterceptedCall, joinChunks } from './relay-intercept.js';
import type { Interceptors, RelayedCall, RelayLogger } from './relay.js';

/** setTimeout's limit; longer deadlines are left to the caller. */
const maxTimerMs = 2_147_483_647;
/** HPACK's table size before any SETTINGS (RFC 7541 §4.2). */
const defaultTableBytes = 4096;

export interface ConnectionOptions {
  readonly upstreamPath: string;
  readonly interceptors: Interceptors;
  readonly logger: RelayLogger | undefined;
  readonly observe: ((call: RelayedCall) => void) | undefined;
  /** Called once, when kubelet's connection is gone. */
  readonly ended: (connection: RelayConnection) => void;
}

interface Stream {
  /** kubelet's stream id. */
  readonly id: number;
  readonly method: string;
  readonly startedMs: number;
  readonly intercepted: InterceptedCall | null;
  /** The request headers, sent on when the call opens at the runtime (an intercepted one's once decided). */
  readonly requestHeaders: HeaderList;
  timer: NodeJS.Timeout | null;
  /** The runtime connection the call opened on and its id there; null until it opened. */
  runtime: RuntimeSide | null;
  runtimeId: number;
  /** The runtime has the call open: it went there and no end came back. */
  runtimeOpen: boolean;
  requestEnded: boolean;
  /** Response headers went to kubelet: a status the relay sends now goes as trailers. */
  responseStarted: boolean;
  /** Connection window kubelet has not had back for an intercepted body's last frame. */
  heldFlowBytes: number;
  /** What the runtime still lets the relay send on an intercepted call (its stream window). */
  sendWindow: number;
  runtimeStartedMs: number | null;
  /** Why the call ended, once it has. */
  endedWith: GrpcError | null;
}

/**
 * One peer's header blocks, decoded with a dynamic table as large as the other side allowed it.
 * The limit is only ever raised, so a block sent before the peer saw a smaller size still decodes.
 */
class HeaderDecoder {
  private readonly hpack = new HpackDecoder(defaultTableBytes);
  private limit = defaultTableBytes;

  /** A SETTINGS_HEADER_TABLE_SIZE the other side advertised to this peer (undefined: none yet). */
  allowTable(bytes: number | undefined): void {
    if (bytes === undefined || bytes <= this.limit) return;
    this.limit = bytes;
    this.hpack.setTableSizeLimit(bytes);
  }

  decode(block: Buffer): HeaderList {
    return this.hpack.decode(block);
  }
}

/** Bytes for the runtime, waiting while their DATA does not fit the runtime's windows. */
interface Outgoing {
  readonly bytes: Buffer;
  /** Flow-controlled bytes (a DATA frame's payload), 0 for other frames. */
  readonly flowBytes: number;
  /**
   * The intercepted call whose stream window the bytes also need (a body the relay made), or null
   * (bytes kubelet sent, passed on as they came).
   */
  readonly stream: Stream | null;
}

/** One connection to the runtime and what the relay knows of it; a reconnect starts a fresh one. */
class RuntimeSide {
  readonly frames = new FrameReader();
  readonly blocks = new HeaderBlockReader();
  /** Decodes the runtime's header blocks; its encoder follows kubelet's SETTINGS. */
  readonly decoder = new HeaderDecoder();
  maxFrameBytes = defaultMaxFrameBytes;
  initialWindow = defaultWindowBytes;
  /** The connection window: what may still be sent to the runtime. */
  window = defaultWindowBytes;
  /** Response bytes the relay dropped, to credit back. */
  windowOwed = 0;
  out: Buffer[] = [];
  readonly blocked: Outgoing[] = [];
  /** Calls open here, by their id on this connection. */
  readonly streams = new Map<number, Stream>();
  nextStreamId = 1;
  /** For each SETTINGS sent here, in order: whether the relay sent it (its ACK is not kubelet's). */
  readonly settingsFromRelay: boolean[] = [];
  goneAway = false;
  closed = false;
  error: Error | null = null;

  constructor(readonly socket: Socket) {}
}

export class RelayConnection {
  /** The runtime connection new calls open on. */
  private runtime: RuntimeSide;
  /** Every runtime connection still open: the current one, and older ones finishing their calls. */
  private readonly runtimes = new Set<RuntimeSide>();
  /** Calls in flight, by kubelet's stream id. */
  private readonly streams = new Map<number, Stream>();
  private readonly kubeletFrames = new FrameReader();
  private readonly kubeletBlocks = new HeaderBlockReader();
  /** Decodes kubelet's header blocks; its encoder follows the runtime's SETTINGS. */
  private readonly requestDecoder = new HeaderDecoder();
  /** kubelet's settings so far, replayed to a new runtime connection. */
  private readonly kubeletSettings = new Map<number, number>();
  /** For each SETTINGS sent to kubelet, in order: whether the relay sent it. */
  private readonly kubeletSettingsFromRelay: boolean[] = [];
  private prefaceBytes = 0;
  private lastStreamId = 0;
  private kubeletMaxFrameBytes = defaultMaxFrameBytes;
  /** What kubelet may still send on its connection: the window the relay gave it. */
  private kubeletWindow = defaultWindowBytes;
  /** kubelet's DATA bytes the relay passed on or dropped and has not given back yet. */
  private kubeletCredit = 0;
  private kubeletHasServerSettings = false;
  private kubeletOut: Buffer[] = [];
  /** Calls opened at the runtime since the last flush: their time in the runtime starts at its write. */
  private sentThisTurn: Stream[] = [];
  /** Interceptors' afterResponse calls, run once the answer is written. */
  private afterFlush: Array<() => void> = [];
  /** Set while no runtime connection works: why, for the UNAVAILABLE answers. */
  private runtimeDown: string | null = null;
  private shuttingDown = false;
  private goawaySent = false;
  private endingKubelet = false;
  private over = false;

  constructor(
    private readonly kubelet: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.runtime = this.connectRuntime(false);
    kubelet.on('data', (chunk: Buffer) => this.fromKubelet(chunk));
    kubelet.on('drain', () => {
      for (const side of this.runtimes) side.socket.resume();
    });
    kubelet.on('error', (error: Error) => options.logger?.debug({ err: error.message }, 'kubelet connection error'));
    kubelet.on('close', () => this.kubeletGone());
  }

  /** Calls in flight on this connection. */
  get inFlight(): number {
    return this.streams.size;
  }

  /** Graceful close: kubelet is told to open no more calls; the connection ends after the last one. */
  shutdown(): void {
    this.shuttingDown = true;
    this.goaway();
    this.endWhenIdle();
    this.flush();
  }

  /** Ends the calls still in flight with `error`, then the connection. */
  destroy(error: GrpcError): void {
    for (const stream of this.streams.values()) this.answer(stream, error);
    this.goaway();
    this.flush();
    this.kubelet.end();
    for (const side of this.runtimes) side.socket.destroy();
  }

  private connectRuntime(replaySettings: boolean): RuntimeSide {
    const side = new RuntimeSide(connect(this.options.upstreamPath));
    side.socket.on('data', (chunk: Buffer) => this.fromRuntime(side, chunk));
    side.socket.on('drain', () => this.kubelet.resume());
    side.socket.on('error', (error: Error) => {
      side.error = error;
    });
    side.socket.on('close', () => this.runtimeClosed(side));
    this.runtimes.add(side);
    if (replaySettings) {
      // kubelet's preface went to an earlier connection: this one gets the relay's, with kubelet's settings.
      const payload = Buffer.alloc(this.kubeletSettings.size * 6);
      let offset = 0;
      for (const [id, value] of this.kubeletSettings) {
        payload.writeUInt16BE(id, offset);
        payload.writeUInt32BE(value, offset + 2);
        offset += 6;
      }
      append(side.out, clientPreface);
      append(side.out, formatFrame(FrameType.SETTINGS, 0, 0, payload));
      side.settingsFromRelay.push(true);
      side.decoder.allowTable(this.kubeletSettings.get(Setting.HEADER_TABLE_SIZE));
    }
    return side;
  }

  // ── kubelet → runtime ────────────────────────────────────────────────────────────────────────

  private fromKubelet(chunk: Buffer): void {
    try {
      let bytes = chunk;
      if (this.prefaceBytes < clientPreface.length) bytes = this.readPreface(bytes);
      for (const frame of this.kubeletFrames.read(bytes)) this.onKubeletFrame(frame);
    } catch (error) {
      this.kubeletBrokeProtocol(error as Error);
      return;
    }
    this.flush();
  }

  /** Checks and forwards the client preface (it may arrive in pieces); returns the bytes after it. */
  private readPreface(bytes: Buffer): Buffer {
    const take = Math.min(clientPreface.length - this.prefaceBytes, bytes.length);
    if (!bytes.subarray(0, take).equals(clientPreface.subarray(this.prefaceBytes, this.prefaceBytes + take))) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'the client did not start with the HTTP/2 connection preface');
    }
    this.prefaceBytes += take;
    this.toRuntime(this.runtime, bytes.subarray(0, take));
    return bytes.subarray(take);
  }

  private onKubeletFrame(frame: Frame): void {
    if (this.kubeletBlocks.inBlock || frame.type === FrameType.HEADERS || frame.type === FrameType.CONTINUATION) {
      const block = this.kubeletBlocks.push(frame);
      if (block !== null) this.onRequestHeaders(block);
      return;
    }
    switch (frame.type) {
      case FrameType.DATA:
        this.onRequestData(frame);
        return;
      case FrameType.RST_STREAM:
        this.onRequestReset(frame);
        return;
      case FrameType.SETTINGS:
        this.onKubeletSettings(frame);
        return;
      case FrameType.PING:
        if (isPingRequest(frame)) this.fromRelay(pingAck(frame));
        return;
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'a client may not send PUSH_PROMISE');
      default:
        this.passStreamFrame(frame);
    }
  }

  private onRequestHeaders({ streamId, endStream, block }: HeaderBlock): void {
    const headers = this.requestDecoder.decode(block);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) {
      // Trailers from the caller end its side of the call; an intercepted call has no use for them.
      if (!endStream || stream.requestEnded) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `a second header block on stream ${streamId} came after its end or did not end it`);
      stream.requestEnded = true;
      if (stream.intercepted !== null) this.intercept(stream);
      else if (stream.runtimeOpen && stream.runtime !== null) this.toRuntime(stream.runtime, this.headerFrames(stream.runtimeId, headers, true, stream.runtime.maxFrameBytes));
      return;
    }
    // A stream the relay ended already: its late headers only had to reach the HPACK decoder.
    if (streamId <= this.lastStreamId) return;
    if (streamId % 2 === 0) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `a client may not open even-numbered stream ${streamId}`);
    this.lastStreamId = streamId;
    this.openStream(streamId, headers, endStream);
  }

  private openStream(id: number, headers: HeaderList, endStream: boolean): void {
    const method = headerValue(headers, ':path') ?? '';
    const interceptor = this.options.interceptors.get(method);
    const grpcTimeout = headerValue(headers, 'grpc-timeout');
    const timeoutMs = parseGrpcTimeoutMs(grpcTimeout);
    const deadlineMs = timeoutMs === null ? null : Date.now() + timeoutMs;
    const stream: Stream = {
      id,
      method,
      startedMs: performance.now(),
      intercepted: interceptor === undefined ? null : new InterceptedCall(interceptor, method, headers, deadlineMs, this.options.logger),
      requestHeaders: headers,
      timer: null,
      runtime: null,
      runtimeId: 0,
      runtimeOpen: false,
      requestEnded: endStream,
      responseStarted: false,
      heldFlowBytes: 0,
      sendWindow: 0,
      runtimeStartedMs: null,
      endedWith: null,
    };
    this.streams.set(id, stream);
    if (this.shuttingDown) {
      this.answer(stream, { code: GrpcStatus.UNAVAILABLE, message: 'cri-rebalancer is shutting down; retry' });
      return;
    }
    if (timeoutMs !== null && timeoutMs < maxTimerMs) {
      stream.timer = setTimeout(() => this.expire(stream, grpcTimeout as string), timeoutMs);
    }
    if (stream.intercepted === null) this.openAtRuntime(stream, endStream);
    else if (endStream) this.intercept(stream);
  }

  /** Opens the call on the runtime connection, first making a new one if the last went away. */
  private openAtRuntime(stream: Stream, endStream: boolean, headerBlock = encodeLiteralHeaderBlock(stream.requestHeaders)): void {
    if (this.runtimeDown !== null || this.runtime.goneAway) {
      this.runtime = this.connectRuntime(true);
      this.runtimeDown = null;
    }
    const side = this.runtime;
    stream.runtime = side;
    stream.runtimeId = side.nextStreamId;
    side.nextStreamId += 2;
    side.streams.set(stream.runtimeId, stream);
    stream.runtimeOpen = true;
    stream.sendWindow = side.initialWindow;
    this.sentThisTurn.push(stream);
    this.toRuntime(side, formatHeadersFrames(stream.runtimeId, headerBlock, endStream, side.maxFrameBytes));
  }

  private onRequestData(frame: Frame): void {
    const stream = this.streams.get(frame.streamId);
    const flowBytes = frame.payload.length;
    this.kubeletWindow -= flowBytes;
    if (stream === undefined || stream.requestEnded) {
      if (frame.streamId > this.lastStreamId) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `DATA on stream ${frame.streamId}, which was never opened`);
      this.kubeletCredit += flowBytes;
      return;
    }
    const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
    if (endStream) stream.requestEnded = true;
    if (stream.intercepted === null) {
      this.toRuntime(stream.runtime as RuntimeSide, renumbered(frame.raw, stream.runtimeId), flowBytes);
      return;
    }
    // The relay holds an intercepted body. A body larger than one frame may be larger than the
    // windows: kubelet gets each of its frames' room back at once. The last frame's (all of a
    // usual request) comes back when the call is forwarded or answered, net of what the relay
    // sent, so the create's path has no write to kubelet.
    if (endStream) {
      stream.heldFlowBytes += flowBytes;
    } else if (flowBytes > 0) {
      this.kubeletCredit += flowBytes;
      this.fromRelay(formatWindowUpdate(stream.id, flowBytes));
    }
    if (!stream.intercepted.appendRequest(unpaddedPayload(frame))) {
      this.answer(stream, { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `request larger than ${maxFrameBytes} bytes` });
      return;
    }
    if (endStream) this.intercept(stream);
  }

  private onRequestReset(frame: Frame): void {
    const stream = this.streams.get(frame.streamId);
    if (stream === undefined) return;
    if (stream.runtimeOpen && stream.runtime !== null) {
      this.toRuntime(stream.runtime, renumbered(frame.raw, stream.runtimeId));
      this.closedAtRuntime(stream);
    }
    this.finish(stream, { code: GrpcStatus.CANCELLED, message: 'the caller cancelled the call' }, false);
  }

  private onKubeletSettings(frame: Frame): void {
    if ((frame.flags & FrameFlag.ACK) !== 0) {
      // The ACK of the relay's own SETTINGS stays here; kubelet's ACKs of the runtime's go on.
      if (this.kubeletSettingsFromRelay.shift() !== true && this.runtimeDown === null) this.toRuntime(this.runtime, frame.raw);
      return;
    }
    for (const [id, value] of parseSettings(frame.payload)) {
      this.kubeletSettings.set(id, value);
      if (id === Setting.MAX_FRAME_SIZE) this.kubeletMaxFrameBytes = value;
    }
    if (this.runtimeDown !== null) {
      this.fromRelay(settingsAck);
      return;
    }
    this.runtime.decoder.allowTable(this.kubeletSettings.get(Setting.HEADER_TABLE_SIZE));
    this.runtime.settingsFromRelay.push(false);
    this.toRuntime(this.runtime, frame.raw);
  }

  /** WINDOW_UPDATE and extension frames: connection-wide ones pass, a stream's go to where it is open. */
  private passStreamFrame(frame: Frame): void {
    if (this.runtimeDown !== null) return;
    if (frame.streamId === 0) {
      this.toRuntime(this.runtime, frame.raw);
      return;
    }
    const stream = this.streams.get(frame.streamId);
    if (stream !== undefined && stream.runtime !== null && stream.runtimeOpen) this.toRuntime(stream.runtime, renumbered(frame.raw, stream.runtimeId));
  }

  private intercept(stream: Stream): void {
    const call = stream.intercepted as InterceptedCall;
    void call.decide().then(async (outcome) => {
      if (stream.endedWith !== null) {
        call.report({ ok: false, error: stream.endedWith });
        return;
      }
      if ('reject' in outcome) {
        this.answer(stream, outcome.reject);
        this.flush();
        return;
      }
      // Made while the decision's effects become durable (the create's checkpoint write).
      const headerBlock = encodeLiteralHeaderBlock(stream.requestHeaders);
      const failure = outcome.ready === undefined ? null : await call.whenReady(outcome.ready);
      if (stream.endedWith !== null) {
        call.report({ ok: false, error: stream.endedWith });
        return;
      }
      if (failure !== null) {
        this.answer(stream, failure);
      } else {
        this.openAtRuntime(stream, false, headerBlock);
        this.sendBody(stream, outcome.forward);
      }
      this.flush();
    });
  }

  private sendBody(stream: Stream, body: Buffer): void {
    const side = stream.runtime as RuntimeSide;
    const maxFrame = side.maxFrameBytes;
    for (let offset = 0; offset === 0 || offset < body.length; offset += maxFrame) {
      const piece = body.subarray(offset, offset + maxFrame);
      const last = offset + maxFrame >= body.length;
      this.toRuntime(side, formatFrame(FrameType.DATA, last ? FrameFlag.END_STREAM : 0, stream.runtimeId, piece), piece.length, stream);
    }
    // Every body byte was credited to kubelet as it came, but the last frame's.
    this.kubeletCredit += stream.heldFlowBytes;
    stream.heldFlowBytes = 0;
  }

  // ── runtime → kubelet ────────────────────────────────────────────────────────────────────────

  private fromRuntime(side: RuntimeSide, chunk: Buffer): void {
    try {
      for (const frame of side.frames.read(chunk)) this.onRuntimeFrame(side, frame);
    } catch (error) {
      this.options.logger?.warn({ err: (error as Error).message }, 'the runtime broke the HTTP/2 protocol; closing its connection');
      side.error = new Error(`it broke the HTTP/2 protocol: ${(error as Error).message}`);
      side.socket.destroy();
    }
    this.flush();
  }

  private onRuntimeFrame(side: RuntimeSide, frame: Frame): void {
    if (side.blocks.inBlock || frame.type === FrameType.HEADERS || frame.type === FrameType.CONTINUATION) {
      const block = side.blocks.push(frame);
      if (block !== null) this.onResponseHeaders(side, block);
      return;
    }
    switch (frame.type) {
      case FrameType.DATA:
        this.onResponseData(side, frame);
        return;
      case FrameType.RST_STREAM:
        this.onResponseReset(side, frame);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onRuntimeWindowUpdate(side, frame);
        return;
      case FrameType.SETTINGS:
        this.onRuntimeSettings(side, frame);
        return;
      case FrameType.GOAWAY:
        this.onRuntimeGoaway(side, frame);
        return;
      case FrameType.PING:
        if (isPingRequest(frame)) append(side.out, pingAck(frame));
        return;
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE, which gRPC clients refuse');
      default:
      // PRIORITY and extension frames: nothing kubelet needs.
    }
  }

  private onResponseHeaders(side: RuntimeSide, { streamId, endStream, block }: HeaderBlock): void {
    const headers = side.decoder.decode(block);
    const stream = side.streams.get(streamId);
    // A call the relay ended already: its late headers only had to reach the HPACK decoder.
    if (stream === undefined) return;
    append(this.kubeletOut, this.headerFrames(stream.id, headers, endStream, this.kubeletMaxFrameBytes));
    if (!endStream) {
      stream.responseStarted = true;
      return;
    }
    this.closedAtRuntime(stream);
    this.finish(stream, parseStatusHeaders(headers), true);
  }

  private onResponseData(side: RuntimeSide, frame: Frame): void {
    const stream = side.streams.get(frame.streamId);
    if (stream === undefined) {
      side.windowOwed += frame.payload.length;
      return;
    }
    append(this.kubeletOut, renumbered(frame.raw, stream.id));
    stream.intercepted?.appendResponse(unpaddedPayload(frame));
    if ((frame.flags & FrameFlag.END_STREAM) === 0) return;
    this.closedAtRuntime(stream);
    this.finish(stream, { code: GrpcStatus.INTERNAL, message: `runtime at ${this.options.upstreamPath} ended the call without a gRPC status` }, true);
  }

  private onResponseReset(side: RuntimeSide, frame: Frame): void {
    const stream = side.streams.get(frame.streamId);
    if (stream === undefined) return;
    this.closedAtRuntime(stream);
    const code = readUint32(frame, 'RST_STREAM');
    if (code === H2Error.REFUSED_STREAM) {
      // Passed on as it is: gRPC clients retry a refused stream by themselves.
      append(this.kubeletOut, renumbered(frame.raw, stream.id));
      this.finish(stream, { code: GrpcStatus.UNAVAILABLE, message: 'the runtime refused the stream' }, false);
      return;
    }
    this.answer(stream, { code: statusForResetCode(code), message: `runtime at ${this.options.upstreamPath} reset the call (HTTP/2 error ${code})` });
  }

  private onRuntimeWindowUpdate(side: RuntimeSide, frame: Frame): void {
    const increment = readUint32(frame, 'WINDOW_UPDATE') & 0x7fffffff;
    if (frame.streamId !== 0) {
      const stream = side.streams.get(frame.streamId);
      if (stream === undefined) return;
      // On an intercepted call it credits the body the relay sent, not kubelet's.
      if (stream.intercepted === null) append(this.kubeletOut, renumbered(frame.raw, stream.id));
      else stream.sendWindow += increment;
      this.releaseBlocked(side);
      return;
    }
    side.window += increment;
    this.releaseBlocked(side);
  }

  private onRuntimeSettings(side: RuntimeSide, frame: Frame): void {
    if ((frame.flags & FrameFlag.ACK) !== 0) {
      if (side.settingsFromRelay.shift() === false) append(this.kubeletOut, frame.raw);
      return;
    }
    for (const [id, value] of parseSettings(frame.payload)) {
      if (id === Setting.HEADER_TABLE_SIZE) {
        this.requestDecoder.allowTable(value);
      } else if (id === Setting.MAX_FRAME_SIZE) {
        side.maxFrameBytes = value;
      } else if (id === Setting.INITIAL_WINDOW_SIZE) {
        // A new initial window moves every open stream's window by the difference (RFC 9113 §6.9.2).
        for (const stream of side.streams.values()) stream.sendWindow += value - side.initialWindow;
        side.initialWindow = value;
        this.releaseBlocked(side);
      }
    }
    this.kubeletSettingsFromRelay.push(false);
    this.kubeletHasServerSettings = true;
    append(this.kubeletOut, frame.raw);
  }

  /**
   * The runtime will take no new calls on this connection (it is shutting down or restarting):
   * the next call opens a new one, and calls it did not take end UNAVAILABLE now. kubelet keeps
   * its connection to the relay, so the GOAWAY stays here.
   */
  private onRuntimeGoaway(side: RuntimeSide, frame: Frame): void {
    if (frame.payload.length < 8) throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
    side.goneAway = true;
    const lastTaken = frame.payload.readUInt32BE(0) & 0x7fffffff;
    for (const [runtimeId, stream] of side.streams) {
      if (runtimeId <= lastTaken) continue;
      stream.runtimeOpen = false;
      this.answer(stream, { code: GrpcStatus.UNAVAILABLE, message: `runtime at ${this.options.upstreamPath} is going away and did not take the call; retry` });
    }
  }

  // ── calls ending ─────────────────────────────────────────────────────────────────────────────

  /** The relay ends a call with `error`: the runtime's side is cancelled, kubelet gets the status. */
  private answer(stream: Stream, error: GrpcError): void {
    if (stream.runtimeOpen && stream.runtime !== null) {
      this.toRuntime(stream.runtime, formatRstStream(stream.runtimeId, H2Error.CANCEL));
      this.closedAtRuntime(stream);
    }
    this.fromRelay(this.headerFrames(stream.id, formatStatusHeaders(error, !stream.responseStarted), true, this.kubeletMaxFrameBytes));
    // A caller still sending is told to stop (RFC 9113 §8.1).
    if (!stream.requestEnded) this.fromRelay(formatRstStream(stream.id, H2Error.NO_ERROR));
    this.finish(stream, error, false);
  }

  private closedAtRuntime(stream: Stream): void {
    stream.runtimeOpen = false;
    stream.runtime?.streams.delete(stream.runtimeId);
  }

  private expire(stream: Stream, grpcTimeout: string): void {
    stream.timer = null;
    this.answer(stream, { code: GrpcStatus.DEADLINE_EXCEEDED, message: `deadline of ${grpcTimeout} exceeded in cri-rebalancer` });
    this.flush();
  }

  /** The call is over for kubelet: metrics, the interceptor's afterResponse (once written), cleanup. */
  private finish(stream: Stream, status: GrpcError, fromRuntime: boolean): void {
    stream.endedWith = status;
    this.kubeletCredit += stream.heldFlowBytes;
    stream.heldFlowBytes = 0;
    this.streams.delete(stream.id);
    if (stream.runtimeOpen) this.closedAtRuntime(stream);
    if (stream.timer !== null) clearTimeout(stream.timer);
    const now = performance.now();
    this.options.observe?.({
      method: stream.method,
      intercepted: stream.intercepted !== null,
      code: status.code,
      durationMs: now - stream.startedMs,
      runtimeMs: stream.runtimeStartedMs === null ? null : now - stream.runtimeStartedMs,
    });
    const call = stream.intercepted;
    if (call !== null) {
      if (!fromRuntime) call.abort();
      this.afterFlush.push(fromRuntime ? () => call.reportStatus(status) : () => call.report({ ok: false, error: status }));
    }
    this.endWhenIdle();
  }

  /** A connection that is closing goes away once its last call ended. */
  private endWhenIdle(): void {
    if (this.streams.size > 0 || !this.shuttingDown || this.endingKubelet) return;
    this.endingKubelet = true;
    this.goaway();
    this.afterFlush.push(() => this.kubelet.end());
  }

  private goaway(): void {
    if (this.goawaySent) return;
    this.goawaySent = true;
    this.fromRelay(formatGoaway(this.lastStreamId, H2Error.NO_ERROR));
  }

  /** A runtime connection closed: its calls end UNAVAILABLE; held calls too when it was the current one. */
  private runtimeClosed(side: RuntimeSide): void {
    side.closed = true;
    this.runtimes.delete(side);
    if (this.over) return;
    for (const dropped of side.blocked.splice(0)) this.passedOn(dropped);
    // kubelet may be paused waiting for this connection's 'drain', which will never come.
    this.kubelet.resume();
    const message = `runtime at ${this.options.upstreamPath} is not reachable: ${side.error?.message ?? 'it closed the connection'}`;
    for (const stream of side.streams.values()) {
      stream.runtimeOpen = false;
      this.answer(stream, { code: GrpcStatus.UNAVAILABLE, message });
    }
    side.streams.clear();
    if (side === this.runtime) this.runtimeLost(side, message);
    this.flush();
  }

  /** No runtime now: kubelet is served by the relay itself until its next call reconnects. */
  private runtimeLost(side: RuntimeSide, message: string): void {
    this.runtimeDown = message;
    // A client sends its calls once it has the server's SETTINGS; the runtime may never have sent them.
    this.ensureServerSettings();
    // kubelet's settings the runtime never acknowledged are acknowledged by the relay.
    for (const fromRelay of side.settingsFromRelay.splice(0)) if (!fromRelay) this.fromRelay(settingsAck);
    for (const stream of this.streams.values()) this.answer(stream, { code: GrpcStatus.UNAVAILABLE, message });
  }

  private kubeletGone(): void {
    if (this.over) return;
    this.over = true;
    for (const side of this.runtimes) side.socket.destroy();
    for (const stream of this.streams.values()) this.finish(stream, { code: GrpcStatus.CANCELLED, message: 'the caller went away' }, false);
    this.runAfterFlush();
    this.options.ended(this);
  }

  /** kubelet broke the protocol: it is told why, and the connection ends. */
  private kubeletBrokeProtocol(error: Error): void {
    const code = error instanceof H2ProtocolError ? error.code : H2Error.COMPRESSION_ERROR;
    this.options.logger?.warn({ err: error.message }, 'kubelet broke the HTTP/2 protocol; closing its connection');
    this.goawaySent = true;
    this.fromRelay(formatGoaway(this.lastStreamId, code));
    this.flush();
    this.kubelet.end();
    for (const side of this.runtimes) side.socket.destroy();
  }

  // ── writing ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Frames the relay itself sends kubelet. The server's first frame must be its SETTINGS (RFC 9113
   * §3.4): before the runtime's arrived, the relay sends its own (empty) first.
   */
  private fromRelay(bytes: Buffer): void {
    this.ensureServerSettings();
    append(this.kubeletOut, bytes);
  }

  private ensureServerSettings(): void {
    if (this.kubeletHasServerSettings) return;
    this.kubeletHasServerSettings = true;
    this.kubeletSettingsFromRelay.push(true);
    append(this.kubeletOut, formatFrame(FrameType.SETTINGS, 0, 0));
  }

  /** Queues bytes for a runtime connection; DATA waits while it does not fit the windows (`stream`'s too, for an intercepted body). */
  private toRuntime(side: RuntimeSide, bytes: Buffer, flowBytes = 0, stream: Stream | null = null): void {
    const outgoing = { bytes, flowBytes, stream };
    if (side.closed) {
      this.passedOn(outgoing);
    } else if (side.blocked.length === 0 && fits(side, flowBytes, stream)) {
      append(side.out, bytes);
      this.passedOn(outgoing);
    } else {
      side.blocked.push(outgoing);
    }
  }

  private releaseBlocked(side: RuntimeSide): void {
    let released = 0;
    for (const next of side.blocked) {
      if (!fits(side, next.flowBytes, next.stream)) break;
      append(side.out, next.bytes);
      this.passedOn(next);
      released += 1;
    }
    side.blocked.splice(0, released);
  }

  /** kubelet's DATA left the relay (sent, or dropped with its connection): its window comes back. */
  private passedOn(outgoing: Outgoing): void {
    if (outgoing.stream === null) this.kubeletCredit += outgoing.flowBytes;
  }

  private headerFrames(streamId: number, headers: HeaderList, endStream: boolean, maxFrameBytes: number): Buffer {
    return formatHeadersFrames(streamId, encodeLiteralHeaderBlock(headers), endStream, maxFrameBytes);
  }

  /** Writes what this turn produced, one write per socket, then runs the afterResponse calls. */
  private flush(): void {
    if (this.kubeletCredit > 0 && this.kubeletWindow <= defaultWindowBytes / 2) {
      this.fromRelay(formatWindowUpdate(0, this.kubeletCredit));
      this.kubeletWindow += this.kubeletCredit;
      this.kubeletCredit = 0;
    }
    if (this.kubeletOut.length > 0) {
      const out = this.kubeletOut;
      this.kubeletOut = [];
      if (!this.kubelet.destroyed && !this.kubelet.write(joinChunks(out))) {
        for (const side of this.runtimes) side.socket.pause();
      }
    }
    if (this.sentThisTurn.length > 0) {
      const now = performance.now();
      for (const stream of this.sentThisTurn) stream.runtimeStartedMs = now;
      this.sentThisTurn = [];
    }
    for (const side of this.runtimes) {
      if (side.windowOwed > 0) {
        append(side.out, formatWindowUpdate(0, side.windowOwed));
        side.windowOwed = 0;
      }
      if (side.out.length === 0) continue;
      const out = side.out;
      side.out = [];
      if (!side.socket.destroyed && !side.socket.write(joinChunks(out))) this.kubelet.pause();
    }
    this.runAfterFlush();
  }

  private runAfterFlush(): void {
    if (this.afterFlush.length === 0) return;
    const calls = this.afterFlush;
    this.afterFlush = [];
    for (const call of calls) call();
  }
}

const settingsAck = formatFrame(FrameType.SETTINGS, FrameFlag.ACK, 0);

/** Whether a PING asks for an answer (an ACK answers a PING the relay never sends, so it is dropped). */
function isPingRequest(frame: Frame): boolean {
  if (frame.streamId !== 0) throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `PING on stream ${frame.streamId}`);
  if (frame.payload.length !== 8) throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'PING is not 8 bytes');
  return (frame.flags & FrameFlag.ACK) === 0;
}

const pingAck = (frame: Frame): Buffer => formatFrame(FrameType.PING, FrameFlag.ACK, 0, frame.payload);

/** Whether DATA of `flowBytes` fits the runtime's windows now; takes the room when it does. */
function fits(side: RuntimeSide, flowBytes: number, stream: Stream | null): boolean {
  if (flowBytes > side.window || (stream !== null && flowBytes > stream.sendWindow)) return false;
  side.window -= flowBytes;
  if (stream !== null) stream.sendWindow -= flowBytes;
  return true;
}

/** The frame with its stream id set to `streamId` (in place: the relay owns the chunk it came in). */
function renumbered(raw: Buffer, streamId: number): Buffer {
  if ((raw.readUInt32BE(5) & 0x7fffffff) !== streamId) raw.writeUInt32BE(streamId, 5);
  return raw;
}

/**
 * Adds bytes to a write batch. Frames forwarded unchanged sit side by side in the chunk they came
 * in: those stay one view of it rather than pieces copied together again at the write.
 */
function append(out: Buffer[], bytes: Buffer): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
    out[out.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    return;
  }
  out.push(bytes);
}

function readUint32(frame: Frame, name: string): number {
  if (frame.payload.length !== 4) throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, `${name} on stream ${frame.streamId} is not 4 bytes`);
  return frame.payload.readUInt32BE(0);
}
