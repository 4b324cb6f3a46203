// gRPC framing, the protobuf codec (unknown fields kept through decode → encode) and the
// HTTP/2 header helpers the relay uses.
import t from 'tap';
import { create, toBinary } from '@bufbuild/protobuf';
import { decodeMessage, decodeUnaryBody, encodeMessage, encodeUnaryBody } from '../../src/cri/codec.js';
import { encodeGrpcFrame, GrpcFrameReader, parseGrpcFrames } from '../../src/cri/grpc-frame.js';
import {
  formatGrpcMessage,
  formatStatusHeaders,
  headerValue,
  parseGrpcMessage,
  parseGrpcTimeoutMs,
  parseMetadata,
  parseStatusHeaders,
  statusForResetCode,
  type HeaderList,
} from '../../src/cri/grpc-http2.js';
import { H2Error } from '../../src/cri/h2/frames.js';
import { formatGrpcStatus, GrpcStatus, parseGrpcStatus } from '../../src/cri/grpc-status.js';
import { CreateContainerRequestSchema, LinuxContainerResourcesSchema, VersionRequestSchema } from '../../src/cri/gen/runtime/v1/api_pb.js';

t.test('framing', async (t) => {
  const frame = encodeGrpcFrame(Buffer.from('abc'));
  t.same([...frame], [0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  t.equal(encodeGrpcFrame(Buffer.alloc(0), true)[0], 1, 'compressed flag');

  const two = Buffer.concat([frame, encodeGrpcFrame(Buffer.from('de'))]);
  const parsed = parseGrpcFrames(two);
  t.ok(parsed.ok);
  if (parsed.ok) t.same(parsed.frames.map((f) => Buffer.from(f.message).toString()), ['abc', 'de']);
  t.same(parseGrpcFrames(new Uint8Array()), { ok: true, frames: [] }, 'an empty body has no frames');

  t.match(parseGrpcFrames(frame.subarray(0, 3)), { ok: false, reason: 'truncated-frame', message: /header \(3 of 5 bytes\)/u });
  t.match(parseGrpcFrames(frame.subarray(0, 6)), { ok: false, reason: 'truncated-frame', message: /\(1 of 3 bytes\)/u });
  t.match(parseGrpcFrames(frame, 2), { ok: false, reason: 'frame-too-large' });
});

t.test('the frame reader reassembles frames from arbitrary chunks', async (t) => {
  const messages = Array.from({ length: 50 }, (_, i) => Buffer.alloc(i * 7, i));
  const stream = Buffer.concat(messages.map((m) => encodeGrpcFrame(m)));
  const reader = new GrpcFrameReader();
  const out: Buffer[] = [];
  for (let offset = 0; offset < stream.length; offset += 13) {
    out.push(...reader.push(stream.subarray(offset, offset + 13)).map((f) => Buffer.from(f.message)));
  }
  t.same(out, messages);
  t.equal(reader.pendingBytes, 0);
  reader.push(Buffer.from([0, 0, 0]));
  t.equal(reader.pendingBytes, 3, 'an unfinished frame stays pending');
});

t.test('decode → encode keeps fields the proto does not declare', async (t) => {
  const known = toBinary(
    CreateContainerRequestSchema,
    create(CreateContainerRequestSchema, { podSandboxId: 'p1', config: { metadata: { name: 'app' }, linux: { resources: { cpuShares: 512n } } } }),
  );
  // Top-level field 999 (varint), and inside linux.resources (field 2 → 15 → 1) a length-delimited
  // field 42 that a newer cri-api could add.
  const unknownTop = Buffer.from([0xb8, 0x3e, 0x07]);
  const decodedFirst = decodeMessage(CreateContainerRequestSchema, Buffer.concat([known, unknownTop]));
  t.ok(decodedFirst.ok);
  if (!decodedFirst.ok) return;
  const nested = decodedFirst.message.config!.linux!.resources!;
  const nestedBytes = Buffer.concat([toBinary(LinuxContainerResourcesSchema, nested), Buffer.from([0xd2, 0x02, 0x02, 0x68, 0x69])]);
  const withNested = decodeMessage(LinuxContainerResourcesSchema, nestedBytes);
  t.ok(withNested.ok);
  if (!withNested.ok) return;
  decodedFirst.message.config!.linux!.resources = withNested.message;

  // Rewrite a known field, as the proxy does, and encode again.
  decodedFirst.message.config!.linux!.resources.cpusetCpus = '2-3';
  const reencoded = Buffer.from(encodeMessage(CreateContainerRequestSchema, decodedFirst.message));
  t.ok(reencoded.includes(unknownTop), 'top-level unknown field written back');
  t.ok(reencoded.includes(Buffer.from([0xd2, 0x02, 0x02, 0x68, 0x69])), 'nested unknown field written back');
  const again = decodeMessage(CreateContainerRequestSchema, reencoded);
  t.ok(again.ok);
  if (again.ok) {
    t.equal(again.message.config?.linux?.resources?.cpusetCpus, '2-3');
    t.equal(again.message.config?.linux?.resources?.cpuShares, 512n);
  }
});

t.test('unary bodies', async (t) => {
  const version = create(VersionRequestSchema, { version: 'v1' });
  const body = encodeUnaryBody(VersionRequestSchema, version);
  t.match(decodeUnaryBody(VersionRequestSchema, body), { ok: true, message: { version: 'v1' } });
  t.match(decodeUnaryBody(VersionRequestSchema, body.subarray(0, body.length - 1)), { ok: false, reason: 'truncated-frame' });
  t.match(decodeUnaryBody(VersionRequestSchema, Buffer.concat([body, body])), { ok: false, reason: 'frame-count' });
  t.match(decodeUnaryBody(VersionRequestSchema, new Uint8Array()), { ok: false, reason: 'frame-count' });
  t.match(decodeUnaryBody(VersionRequestSchema, encodeGrpcFrame(Buffer.from([1]), true)), { ok: false, reason: 'compressed' });
  t.match(decodeUnaryBody(VersionRequestSchema, encodeGrpcFrame(Buffer.from([0x0a, 0x05, 0x61]))), {
    ok: false,
    reason: 'malformed',
    message: /^runtime\.v1\.VersionRequest did not decode|^VersionRequest did not decode/u,
  });
});

t.test('headers and metadata', async (t) => {
  const incoming: HeaderList = [
    [':path', '/a/B'],
    [':method', 'POST'],
    [':scheme', 'http'],
    ['content-type', 'application/grpc'],
    ['x-k', 'v'],
    ['x-k', 'w'],
    ['x-k', 'x'],
    ['te', 'trailers'],
  ];
  t.same(parseMetadata(incoming), { 'content-type': 'application/grpc', 'x-k': ['v', 'w', 'x'], te: 'trailers' }, 'repeats as arrays, no pseudo-headers');
  t.equal(headerValue(incoming, ':path'), '/a/B');
  t.equal(headerValue(incoming, 'x-k'), 'v', 'the first of repeats');
  t.equal(headerValue(incoming, 'x-missing'), undefined);
});

t.test('grpc-timeout', async (t) => {
  t.equal(parseGrpcTimeoutMs('100m'), 100);
  t.equal(parseGrpcTimeoutMs('2S'), 2000);
  t.equal(parseGrpcTimeoutMs('1M'), 60_000);
  t.equal(parseGrpcTimeoutMs('1H'), 3_600_000);
  t.equal(parseGrpcTimeoutMs('5000u'), 5);
  t.equal(parseGrpcTimeoutMs('1000000n'), 1);
  t.equal(parseGrpcTimeoutMs(undefined), null);
  t.equal(parseGrpcTimeoutMs('123456789S'), null, 'at most 8 digits');
  t.equal(parseGrpcTimeoutMs('10x'), null);
});

t.test('statuses and messages', async (t) => {
  t.equal(statusForResetCode(H2Error.CANCEL), GrpcStatus.CANCELLED);
  t.equal(statusForResetCode(H2Error.REFUSED_STREAM), GrpcStatus.UNAVAILABLE);
  t.equal(statusForResetCode(H2Error.ENHANCE_YOUR_CALM), GrpcStatus.RESOURCE_EXHAUSTED);
  t.equal(statusForResetCode(H2Error.INADEQUATE_SECURITY), GrpcStatus.PERMISSION_DENIED);
  t.equal(statusForResetCode(H2Error.PROTOCOL_ERROR), GrpcStatus.INTERNAL);
  t.equal(formatGrpcMessage('50% of "café"\n'), '50%25 of "caf%C3%A9"%0A');
  t.equal(parseGrpcMessage(formatGrpcMessage('50% of "café"\n')), '50% of "café"\n');
  t.equal(parseGrpcMessage('bad %E0%A4%A'), 'bad %E0%A4%A', 'malformed escapes kept as sent');
  t.equal(parseGrpcMessage(undefined), '');
  t.same(formatStatusHeaders({ code: GrpcStatus.NOT_FOUND, message: 'gone' }, false), [
    ['grpc-status', '5'],
    ['grpc-message', 'gone'],
  ]);
  t.same(formatStatusHeaders({ code: GrpcStatus.NOT_FOUND, message: '50%' }, true), [
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ['grpc-status', '5'],
    ['grpc-message', '50%25'],
  ], 'trailers-only');
  t.same(parseStatusHeaders([['grpc-status', '5'], ['grpc-message', '50%25']]), { code: GrpcStatus.NOT_FOUND, message: '50%' });
  t.same(parseStatusHeaders([[':status', '200']]), { code: GrpcStatus.UNKNOWN, message: '' }, 'no status reads as UNKNOWN');
  t.equal(parseGrpcStatus('14'), GrpcStatus.UNAVAILABLE);
  t.equal(parseGrpcStatus('99'), GrpcStatus.UNKNOWN);
  t.equal(parseGrpcStatus(undefined), GrpcStatus.UNKNOWN);
  t.equal(formatGrpcStatus(14), 'UNAVAILABLE');
  t.equal(formatGrpcStatus(99), 'code 99');
});
