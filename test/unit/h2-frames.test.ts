// HTTP/2 frames as the relay reads and writes them: splitting a byte stream into frames, padding
// and priority fields, SETTINGS, header blocks across CONTINUATION frames.
import t from 'tap';
import {
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
  headerBlockFragment,
  parseSettings,
  unpaddedPayload,
  type Frame,
} from '../../src/cri/h2/frames.js';
import { HeaderBlockReader } from '../../src/cri/h2/header-blocks.js';

function readAll(bytes: Buffer): Frame[] {
  return new FrameReader().read(bytes);
}

t.test('the reader splits frames and waits for the rest of a cut one', async (t) => {
  const frames = Buffer.concat([
    formatFrame(FrameType.DATA, FrameFlag.END_STREAM, 3, Buffer.from('hello')),
    formatRstStream(5, H2Error.CANCEL),
    formatWindowUpdate(0, 1000),
    formatGoaway(7, H2Error.NO_ERROR),
  ]);
  const reader = new FrameReader();
  const seen: Frame[] = [];
  for (let offset = 0; offset < frames.length; offset += 4) seen.push(...reader.read(frames.subarray(offset, offset + 4)));
  t.same(
    seen.map((frame) => [frame.type, frame.flags, frame.streamId, frame.payload.length]),
    [
      [FrameType.DATA, FrameFlag.END_STREAM, 3, 5],
      [FrameType.RST_STREAM, 0, 5, 4],
      [FrameType.WINDOW_UPDATE, 0, 0, 4],
      [FrameType.GOAWAY, 0, 0, 8],
    ],
  );
  t.equal(seen[0]?.payload.toString(), 'hello');
  t.same(seen[0]?.raw, frames.subarray(0, 14), 'raw is the whole frame, header included');
  t.equal(seen[1]?.payload.readUInt32BE(0), H2Error.CANCEL);
  t.equal(seen[3]?.payload.readUInt32BE(0), 7, 'GOAWAY names the last stream');
  const reserved = formatFrame(FrameType.DATA, 0, 1);
  reserved[5] = 0x80;
  t.equal(readAll(reserved)[0]?.streamId, 1, 'the reserved bit is not part of the stream id');
});

t.test('padding and priority are taken off', async (t) => {
  const padded = formatFrame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from([3, 0x61, 0x62, 0, 0, 0]));
  t.equal(unpaddedPayload(readAll(padded)[0] as Frame).toString(), 'ab');
  const plain = formatFrame(FrameType.DATA, 0, 1, Buffer.from('ab'));
  t.equal(unpaddedPayload(readAll(plain)[0] as Frame).toString(), 'ab');
  const overPadded = formatFrame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from([5, 0x61]));
  t.throws(() => unpaddedPayload(readAll(overPadded)[0] as Frame), { name: 'H2ProtocolError', message: /more padding than payload/u });
  t.throws(() => unpaddedPayload(readAll(formatFrame(FrameType.DATA, FrameFlag.PADDED, 1))[0] as Frame), H2ProtocolError);

  const withPriority = formatFrame(FrameType.HEADERS, FrameFlag.PRIORITY | FrameFlag.PADDED | FrameFlag.END_HEADERS, 1, Buffer.from([1, 0, 0, 0, 3, 16, 0x82, 0]));
  t.same([...headerBlockFragment(readAll(withPriority)[0] as Frame)], [0x82]);
  const shortPriority = formatFrame(FrameType.HEADERS, FrameFlag.PRIORITY, 1, Buffer.from([0, 0]));
  t.throws(() => headerBlockFragment(readAll(shortPriority)[0] as Frame), { code: H2Error.FRAME_SIZE_ERROR });
});

t.test('SETTINGS', async (t) => {
  const payload = Buffer.from([0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0]);
  t.same(parseSettings(payload), [
    [1, 4096],
    [5, 16384],
  ]);
  t.same(parseSettings(Buffer.alloc(0)), []);
  t.throws(() => parseSettings(Buffer.alloc(5)), { code: H2Error.FRAME_SIZE_ERROR });
});

t.test('a header block longer than a frame goes as HEADERS and CONTINUATION', async (t) => {
  const block = Buffer.alloc(25, 7);
  const frames = readAll(formatHeadersFrames(9, block, true, 10));
  t.same(
    frames.map((frame) => [frame.type, frame.flags, frame.payload.length]),
    [
      [FrameType.HEADERS, FrameFlag.END_STREAM, 10],
      [FrameType.CONTINUATION, 0, 10],
      [FrameType.CONTINUATION, FrameFlag.END_HEADERS, 5],
    ],
  );
  const reader = new HeaderBlockReader();
  t.equal(reader.push(frames[0] as Frame), null);
  t.ok(reader.inBlock);
  t.equal(reader.push(frames[1] as Frame), null);
  t.same(reader.push(frames[2] as Frame), { streamId: 9, endStream: true, block });
  t.notOk(reader.inBlock);

  const single = readAll(formatHeadersFrames(11, Buffer.from([0x82]), false, 16384));
  t.same(single.map((frame) => [frame.type, frame.flags]), [[FrameType.HEADERS, FrameFlag.END_HEADERS]]);
  t.same(reader.push(single[0] as Frame), { streamId: 11, endStream: false, block: Buffer.from([0x82]) });
});

t.test('header blocks out of order are protocol errors', async (t) => {
  const continuation = readAll(formatFrame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, Buffer.from([0x82])))[0] as Frame;
  t.throws(() => new HeaderBlockReader().push(continuation), { message: /without HEADERS/u });
  const onStreamZero = readAll(formatFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 0))[0] as Frame;
  t.throws(() => new HeaderBlockReader().push(onStreamZero), { message: /stream 0/u });

  const reader = new HeaderBlockReader();
  reader.push(readAll(formatFrame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])))[0] as Frame);
  const data = readAll(formatFrame(FrameType.DATA, 0, 1))[0] as Frame;
  t.throws(() => reader.push(data), { code: H2Error.PROTOCOL_ERROR, message: /expected CONTINUATION on stream 1/u });

  const flood = new HeaderBlockReader();
  flood.push(readAll(formatFrame(FrameType.HEADERS, 0, 1))[0] as Frame);
  const big = readAll(formatFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(600 * 1024)))[0] as Frame;
  flood.push(big);
  t.throws(() => flood.push(big), { code: H2Error.ENHANCE_YOUR_CALM }, 'a block past 1 MiB is refused');
});
