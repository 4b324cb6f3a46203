// The CRI relay over real unix sockets, in front of the no-op backend, driven by a grpc-js client.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { connect, constants, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect as connectSocket, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNoopBackend, type NoopBackend } from '../helpers/noop-cri-backend.js';
import { callServerStream, callUnary, createRawClient } from '../helpers/grpc-call.js';
import {
  ContainerEventResponseSchema,
  CreateContainerRequestSchema,
  StartContainerRequestSchema,
  VersionRequestSchema,
  VersionResponseSchema,
} from '../../src/cri/gen/runtime/v1/api_pb.js';
import { defineInterceptor, GrpcStatus, runtimeMethods, startRelay, RelayListenError, type Relay, type RelayedCall, type RelayOptions } from '../../src/cri/relay.js';
import { encodeGrpcFrame, GrpcFrameReader } from '../../src/cri/grpc-frame.js';
import { clientPreface, defaultWindowBytes, FrameFlag, FrameReader, FrameType, formatFrame, formatHeadersFrames, formatWindowUpdate, H2Error, type Frame } from '../../src/cri/h2/frames.js';
import { encodeLiteralHeaderBlock } from '../../src/cri/h2/hpack-encode.js';

interface Rig {
  readonly dir: string;
  readonly backend: NoopBackend;
  readonly relay: Relay;
  readonly client: grpc.Client;
  readonly observed: RelayedCall[];
}

async function startRig(t: Test, options: Partial<RelayOptions> = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'cri-relay-'));
  const backend = await startNoopBackend(join(dir, 'runtime.sock'));
  const observed: RelayedCall[] = [];
  const relay = await startRelay({
    listenPath: join(dir, 'run', 'relay.sock'),
    upstreamPath: backend.path,
    observe: (call) => observed.push(call),
    ...options,
  });
  const client = createRawClient(relay.listenPath);
  t.teardown(async () => {
    client.close();
    await relay.close({ timeoutMs: 500 });
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, backend, relay, client, observed };
}

const versionPath = runtimeMethods.Version.path;
const versionRequest = toBinary(VersionRequestSchema, create(VersionRequestSchema, { version: 'v1' }));

t.test('a unary call is relayed with its metadata, headers and trailers', async (t) => {
  const { backend, client, observed } = await startRig(t);
  const outcome = await callUnary(client, versionPath, versionRequest, {
    'x-custom': 'kubelet',
    'x-noop-header-x-answer': 'yes',
    'x-noop-trailer-x-after': 'done',
  });
  t.equal(outcome.error, null);
  t.equal(fromBinary(VersionResponseSchema, outcome.response!).runtimeName, 'noop');
  t.same(outcome.headers?.get('x-answer'), ['yes'], 'response header relayed');
  t.same(outcome.trailers?.get('x-after'), ['done'], 'custom trailer relayed');
  t.equal(backend.calls[0]?.headers['x-custom'], 'kubelet', 'request metadata relayed');
  t.same(backend.calls[0]?.body, encodeGrpcFrame(versionRequest), 'request body byte-exact');
  t.match(observed, [{ method: versionPath, intercepted: false, code: 0 }]);
});

t.test('each call tells how long it spent in the runtime; the rest was the relay', async (t) => {
  const { client, observed } = await startRig(t);
  const outcome = await callUnary(client, versionPath, versionRequest, { 'x-noop-delay-ms': '40' });
  t.equal(outcome.error, null);
  const seen = observed.at(-1)!;
  t.ok(seen.runtimeMs !== null && seen.runtimeMs >= 40, `the runtime's 40 ms counted (${seen.runtimeMs} ms)`);
  t.ok(seen.runtimeMs !== null && seen.durationMs >= seen.runtimeMs, 'within the whole call');
  const failing = await callUnary(client, versionPath, versionRequest, { 'x-noop-status': '5', 'x-noop-delay-ms': '20' });
  t.equal(failing.error?.code, grpc.status.NOT_FOUND);
  t.ok((observed.at(-1)!.runtimeMs ?? 0) >= 20, 'a trailers-only answer ends the runtime time too');
});

t.test('an error status (trailers-only) reaches the caller unchanged', async (t) => {
  const { client } = await startRig(t);
  const outcome = await callUnary(client, versionPath, versionRequest, {
    'x-noop-status': String(GrpcStatus.NOT_FOUND),
    'x-noop-message': 'container "abc" not found',
  });
  t.equal(outcome.error?.code, grpc.status.NOT_FOUND);
  t.equal(outcome.error?.details, 'container "abc" not found');
});

t.test('a method unknown to the proto is relayed byte-exact', async (t) => {
  const { client, backend } = await startRig(t);
  const payload = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63, 0xf8, 0x06, 0x01, 0xff, 0x00]);
  const outcome = await callUnary(client, '/runtime.v1.RuntimeService/SomeFutureMethod', payload);
  t.equal(outcome.error, null);
  t.same(outcome.response, payload, 'echoed bytes identical');
  t.equal(backend.calls[0]?.path, '/runtime.v1.RuntimeService/SomeFutureMethod');
});

t.test('a 3 MiB message is relayed byte-exact both ways (flow control and backpressure on each side)', async (t) => {
  const { client, backend } = await startRig(t);
  const payload = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 1) payload[i] = (i * 31 + (i >> 11)) & 0xff;
  const outcome = await callUnary(client, '/runtime.v1.RuntimeService/SomeFutureMethod', payload);
  t.equal(outcome.error, null);
  t.ok(outcome.response?.equals(payload), 'echoed bytes identical');
  t.equal(backend.calls[0]?.body.length, payload.length + 5, 'the runtime got the whole framed request');
});

t.test('32 calls of 256 KiB at once on one connection all arrive intact (windows given back as bytes pass)', async (t) => {
  const { client } = await startRig(t);
  const payloads = Array.from({ length: 32 }, (_, call) => Buffer.alloc(256 * 1024, call + 1));
  const outcomes = await Promise.all(payloads.map((payload) => callUnary(client, '/runtime.v1.RuntimeService/SomeFutureMethod', payload)));
  t.same(
    outcomes.map((outcome, call) => outcome.error === null && outcome.response?.equals(payloads[call]!) === true),
    payloads.map(() => true),
    'every echo identical',
  );
});

t.test('a 20,000-message server stream arrives intact and in order', async (t) => {
  const { client } = await startRig(t);
  const count = 20_000;
  const { messages, status } = await callServerStream(client, '/runtime.v1.RuntimeService/GetContainerEvents', new Uint8Array(), {
    'x-noop-events': String(count),
    'x-noop-trailer-x-stream-end': 'yes',
  });
  t.equal(status.code, grpc.status.OK);
  t.equal(messages.length, count, 'every message relayed');
  const outOfOrder = messages.findIndex((bytes, i) => fromBinary(ContainerEventResponseSchema, bytes).containerId !== `c${i}`);
  t.equal(outOfOrder, -1, 'in order, none corrupted');
  t.same(status.metadata.get('x-stream-end'), ['yes'], 'stream trailers relayed');
});

t.test('the runtime dying mid-stream ends the stream with UNAVAILABLE', async (t) => {
  const { client, backend } = await startRig(t);
  const md = new grpc.Metadata();
  md.set('x-noop-events', '100000000');
  const call = client.makeServerStreamRequest('/runtime.v1.RuntimeService/GetContainerEvents', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, {});
  let received = 0;
  call.on('data', () => {
    received += 1;
    if (received === 100) void backend.close();
  });
  call.on('error', () => undefined);
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.ok(received >= 100, `messages before the failure arrived (${received})`);
  t.equal(status.code, grpc.status.UNAVAILABLE);
  t.match(status.details, `runtime at ${backend.path} is not reachable`);
});

t.test('a deadline passing mid-stream ends the stream with DEADLINE_EXCEEDED trailers', async (t) => {
  const { relay, backend } = await startRig(t);
  const session = connect('http://localhost', { createConnection: () => createConnectionTo(relay.listenPath) });
  t.teardown(() => session.destroy());
  const stream = session.request({
    ':method': 'POST',
    ':path': '/runtime.v1.RuntimeService/GetContainerEvents',
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': '200m',
    'x-noop-events': '100000000',
  });
  const cancelled = backend.nextCancel();
  stream.end(encodeGrpcFrame(new Uint8Array()));
  const reader = new GrpcFrameReader();
  let frames = 0;
  stream.on('data', (chunk: Buffer) => {
    frames += reader.push(chunk).length;
  });
  const headers = await responseHeaders(stream);
  t.equal(headers[':status'], 200);
  const trailers = await new Promise<IncomingHttpHeaders>((resolve) => stream.once('trailers', resolve));
  t.equal(trailers['grpc-status'], String(GrpcStatus.DEADLINE_EXCEEDED));
  t.ok(frames > 0, `events arrived before the deadline (${frames})`);
  await cancelled;
  t.pass('runtime stream cancelled');
});

t.test('a deadline passes through and is also enforced by the relay', async (t) => {
  const { client, backend, relay } = await startRig(t);
  // grpc-js forwards its deadline as grpc-timeout and cancels at the deadline itself.
  const cancelled = backend.nextCancel();
  const outcome = await callUnary(client, versionPath, versionRequest, { 'x-noop-hang': '1' }, { deadline: Date.now() + 200 });
  t.equal(outcome.error?.code, grpc.status.DEADLINE_EXCEEDED);
  await cancelled;
  t.match(backend.calls[0]?.headers['grpc-timeout'], /^\d+[mun]$/u, 'grpc-timeout relayed');

  // A caller that never cancels: the relay answers DEADLINE_EXCEEDED and cancels the runtime call.
  const session = connect('http://localhost', { createConnection: () => createConnectionTo(relay.listenPath) });
  t.teardown(() => session.destroy());
  const stream = session.request({
    ':method': 'POST',
    ':path': versionPath,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': '150m',
    'x-noop-hang': '1',
  });
  const secondCancel = backend.nextCancel();
  stream.end(encodeGrpcFrame(versionRequest));
  const headers = await responseHeaders(stream);
  t.equal(headers['grpc-status'], String(GrpcStatus.DEADLINE_EXCEEDED), 'relay enforced the deadline');
  await secondCancel;
  t.pass('runtime call cancelled at the deadline');
});

function createConnectionTo(path: string): Socket {
  return connectSocket(path);
}

/** The response headers of a raw HTTP/2 call. */
function responseHeaders(stream: ClientHttp2Stream): Promise<IncomingHttpHeaders> {
  return new Promise((resolve) => stream.once('response', (headers) => resolve(headers)));
}

t.test('a caller cancelling cancels the runtime call', async (t) => {
  const { client, backend } = await startRig(t);
  const cancelled = backend.nextCancel();
  const call = client.makeUnaryRequest(versionPath, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(versionRequest), (() => {
    const md = new grpc.Metadata();
    md.set('x-noop-hang', '1');
    return md;
  })(), () => undefined);
  await waitFor(() => backend.calls.length === 1);
  call.cancel();
  await cancelled;
  t.equal(backend.cancelled(), 1, 'the backend saw the reset');
});

t.test('a runtime reset reaches the caller as a status', async (t) => {
  const { client } = await startRig(t);
  const outcome = await callUnary(client, versionPath, versionRequest, { 'x-noop-reset': String(constants.NGHTTP2_INTERNAL_ERROR) });
  t.equal(outcome.error?.code, grpc.status.INTERNAL);
  t.match(outcome.error?.details, /reset the call/u);
  const refused = await callUnary(client, versionPath, versionRequest, { 'x-noop-reset': String(H2Error.REFUSED_STREAM) });
  t.equal(refused.error?.code, grpc.status.UNAVAILABLE, 'a refused stream is passed on as the reset it is');
  t.equal((await callUnary(client, versionPath, versionRequest)).error, null, 'the next call goes through');
});

t.test('the runtime down gives UNAVAILABLE; the relay reconnects when it is back', async (t) => {
  const { client, backend, relay } = await startRig(t);
  t.equal((await callUnary(client, versionPath, versionRequest)).error, null, 'works while the runtime is up');
  await backend.close();
  await rm(backend.path, { force: true });
  const down = await callUnary(client, versionPath, versionRequest);
  t.equal(down.error?.code, grpc.status.UNAVAILABLE);
  t.match(down.error?.details, `runtime at ${backend.path} is not reachable`);
  const restarted = await startNoopBackend(backend.path);
  t.teardown(() => restarted.close());
  const back = await callUnary(client, versionPath, versionRequest);
  t.equal(back.error, null, 'recovered without restarting the relay');
  t.equal(relay.inFlight, 0);
});

t.test('a runtime going away takes no new calls on that connection; the next call opens another', async (t) => {
  const { client, backend } = await startRig(t);
  const hung = callUnary(client, versionPath, versionRequest, { 'x-noop-hang': '1' }, { deadline: Date.now() + 2000 });
  await waitFor(() => backend.calls.length === 1);
  backend.goAway();
  const after = await callUnary(client, versionPath, versionRequest);
  t.equal(after.error, null, 'answered');
  t.equal(backend.connections(), 2, 'over a second runtime connection; the first still carries the call in flight');
  t.equal((await hung).error?.code, grpc.status.DEADLINE_EXCEEDED, 'the call in flight ran on to its deadline');
});

t.test('intercepted calls', async (t) => {
  const seen: string[] = [];
  const results: unknown[] = [];
  let release = (): void => undefined;
  const held = { promise: new Promise<void>((resolve) => (release = resolve)), resolve: () => release() };
  const interceptors = new Map([
    defineInterceptor(runtimeMethods.CreateContainer, (request, context) => {
      seen.push(request.config?.metadata?.name ?? '');
      if (request.config?.metadata?.name === 'refused') {
        return { reject: { code: GrpcStatus.RESOURCE_EXHAUSTED, message: 'no exclusive CPU is free' } };
      }
      if (request.config?.metadata?.name === 'boom') throw new Error('placement crashed');
      if (request.config?.metadata?.name === 'held') return { forward: request, ready: held.promise, afterResponse: (result) => void results.push(result) };
      if (request.config?.metadata?.name === 'unready') {
        const ready = new Promise((_, reject) => setTimeout(() => reject(new Error('disk full')), 10));
        return { forward: request, ready, afterResponse: (result) => void results.push(result) };
      }
      t.equal(context.method, runtimeMethods.CreateContainer.path);
      if (request.config?.metadata?.name === 'copied') {
        const copy = clone(CreateContainerRequestSchema, request);
        copy.podSandboxId = 'rewritten';
        return { forward: copy };
      }
      const overrides = create(CreateContainerRequestSchema, { config: { linux: { resources: { cpusetCpus: '3' } } } });
      return { forward: request, overrides, afterResponse: (result) => void results.push(result) };
    }),
    defineInterceptor(runtimeMethods.StartContainer, () => ({ reject: { code: GrpcStatus.FAILED_PRECONDITION, message: 'unused' } })),
  ]);
  const { client, backend, observed } = await startRig(t, { interceptors });
  const createPath = runtimeMethods.CreateContainer.path;
  const request = create(CreateContainerRequestSchema, {
    podSandboxId: 'abc',
    config: { metadata: { name: 'app' }, linux: { resources: { cpuShares: 1024n, cpuQuota: 100000n, cpuPeriod: 100000n } } },
  });
  // Field 999 (varint 7) is not in proto/: it must survive the rewrite.
  const unknownField = Buffer.from([0xb8, 0x3e, 0x07]);
  const body = Buffer.concat([toBinary(CreateContainerRequestSchema, request), unknownField]);

  await t.test('forwarded as sent with overrides after it, response handed to afterResponse', async (t) => {
    const outcome = await callUnary(client, createPath, body);
    t.equal(outcome.error, null);
    const forwarded = backend.calls.at(-1)!.body;
    t.same(forwarded.subarray(5, 5 + body.length), body, 'the bytes kubelet sent, unknown field 999 included');
    const message = fromBinary(CreateContainerRequestSchema, forwarded.subarray(5));
    t.equal(message.config?.linux?.resources?.cpusetCpus, '3', 'the override merged in');
    t.equal(message.config?.linux?.resources?.cpuShares, 1024n, 'the rest kept');
    t.match(results.at(-1), { ok: true, response: { containerId: backend.createdContainerId } });
    const seen = observed.at(-1)!;
    t.ok(seen.intercepted && seen.runtimeMs !== null && seen.runtimeMs <= seen.durationMs, 'time in the runtime measured');
  });

  await t.test('a rewritten copy is encoded with the unknown fields it kept', async (t) => {
    const copied = create(CreateContainerRequestSchema, { config: { metadata: { name: 'copied' } } });
    const outcome = await callUnary(client, createPath, Buffer.concat([toBinary(CreateContainerRequestSchema, copied), unknownField]));
    t.equal(outcome.error, null);
    const forwarded = backend.calls.at(-1)!.body.subarray(5);
    t.equal(fromBinary(CreateContainerRequestSchema, forwarded).podSandboxId, 'rewritten');
    t.ok(forwarded.includes(unknownField), 'unknown field 999 forwarded');
  });

  await t.test('a rejection answers without forwarding', async (t) => {
    const before = backend.calls.length;
    const refused = create(CreateContainerRequestSchema, { config: { metadata: { name: 'refused' } } });
    const outcome = await callUnary(client, createPath, toBinary(CreateContainerRequestSchema, refused));
    t.equal(outcome.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    t.equal(outcome.error?.details, 'no exclusive CPU is free');
    t.equal(backend.calls.length, before, 'nothing reached the runtime');
    t.match(observed.at(-1), { code: GrpcStatus.RESOURCE_EXHAUSTED, runtimeMs: null }, 'no time in the runtime');
  });

  await t.test('an interceptor that throws answers INTERNAL', async (t) => {
    const boom = create(CreateContainerRequestSchema, { config: { metadata: { name: 'boom' } } });
    const outcome = await callUnary(client, createPath, toBinary(CreateContainerRequestSchema, boom));
    t.equal(outcome.error?.code, grpc.status.INTERNAL);
    t.match(outcome.error?.details, /placement crashed/u);
  });

  await t.test('a runtime error reaches afterResponse and the caller', async (t) => {
    const outcome = await callUnary(client, createPath, body, { 'x-noop-status': '2', 'x-noop-message': 'image not found' });
    t.equal(outcome.error?.code, grpc.status.UNKNOWN);
    t.match(results.at(-1), { ok: false, error: { code: 2, message: 'image not found' } });
  });

  await t.test('a request larger than the windows is held, then forwarded whole with its overrides', async (t) => {
    const annotations = { big: 'x'.repeat(300 * 1024) };
    const large = create(CreateContainerRequestSchema, { podSandboxId: 'abc', config: { metadata: { name: 'large' } }, sandboxConfig: { annotations } });
    const largeBody = toBinary(CreateContainerRequestSchema, large);
    const outcome = await callUnary(client, createPath, largeBody);
    t.equal(outcome.error, null);
    const forwarded = backend.calls.at(-1)!.body;
    t.same(forwarded.subarray(5, 5 + largeBody.length), Buffer.from(largeBody), 'the 300 KiB request as sent');
    const message = fromBinary(CreateContainerRequestSchema, forwarded.subarray(5));
    t.equal(message.config?.linux?.resources?.cpusetCpus, '3', 'the override after it');
    t.equal((await callUnary(client, versionPath, versionRequest)).error, null, 'the connection still flows both ways');
  });

  await t.test('large creates held for decisions and large relayed calls at once all get through', async (t) => {
    const creates = Array.from({ length: 8 }, (_, index) =>
      toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { podSandboxId: `pod-${index}`, config: { metadata: { name: 'large' } }, sandboxConfig: { annotations: { big: 'y'.repeat(200 * 1024) } } })),
    );
    const echoes = Array.from({ length: 8 }, (_, index) => Buffer.alloc(200 * 1024, index + 1));
    const outcomes = await Promise.all([
      ...creates.map((body) => callUnary(client, createPath, body)),
      ...echoes.map((payload) => callUnary(client, '/runtime.v1.RuntimeService/SomeFutureMethod', payload)),
    ]);
    t.same(outcomes.map((outcome) => outcome.error), outcomes.map(() => null), 'every call answered OK');
    t.ok(outcomes.slice(creates.length).every((outcome, index) => outcome.response?.equals(echoes[index]!)), 'every echo identical');
    const forwardedCreates = backend.calls.filter((call) => call.path === createPath).slice(-creates.length);
    t.same(forwardedCreates.map((call) => fromBinary(CreateContainerRequestSchema, call.body.subarray(5)).podSandboxId).sort(), creates.map((_, index) => `pod-${index}`).sort(), 'every create reached the runtime');
  });

  await t.test('a decision with `ready` reaches the runtime only once that resolves', async (t) => {
    const before = backend.calls.length;
    const outcome = callUnary(client, createPath, toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { config: { metadata: { name: 'held' } } })));
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.equal(backend.calls.length, before, 'held while not ready');
    held.resolve();
    t.equal((await outcome).error, null);
    t.equal(backend.calls.length, before + 1, 'forwarded once ready');

    const unready = await callUnary(client, createPath, toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { config: { metadata: { name: 'unready' } } })));
    t.equal(unready.error?.code, grpc.status.INTERNAL);
    t.match(unready.error?.details, /disk full/u);
    t.match(results.at(-1), { ok: false, error: { code: GrpcStatus.INTERNAL, message: /disk full/u } }, 'afterResponse hears it');
    t.equal(backend.calls.length, before + 1, 'nothing forwarded when `ready` fails');
  });

  await t.test('a message that does not decode is refused, nothing forwarded', async (t) => {
    const before = backend.calls.length;
    const outcome = await callUnary(client, createPath, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
    t.equal(outcome.error?.code, grpc.status.INVALID_ARGUMENT);
    t.match(outcome.error?.details, /CreateContainerRequest/u);
    t.equal(backend.calls.length, before);
  });

  await t.test('a truncated frame gets a clean error; the relay stays healthy', async (t) => {
    const session = connect('http://localhost', { createConnection: () => createConnectionTo(join(backend.path, '..', 'run', 'relay.sock')) });
    t.teardown(() => session.destroy());
    const stream = session.request({ ':method': 'POST', ':path': runtimeMethods.StartContainer.path, 'content-type': 'application/grpc', te: 'trailers' });
    const frame = encodeGrpcFrame(toBinary(StartContainerRequestSchema, create(StartContainerRequestSchema, { containerId: 'abc' })));
    stream.end(frame.subarray(0, frame.length - 2));
    const headers = await responseHeaders(stream);
    t.equal(headers['grpc-status'], String(GrpcStatus.INVALID_ARGUMENT));
    t.match(decodeURIComponent(String(headers['grpc-message'] ?? '')), /ends inside a gRPC frame/u);
    t.equal((await callUnary(client, versionPath, versionRequest)).error, null, 'next call fine');
  });
  t.same(seen.slice(0, 4), ['app', 'copied', 'refused', 'boom']);
});

t.test('afterResponse always hears how an intercepted call ended', async (t) => {
  const results: unknown[] = [];
  const interceptors = new Map([
    defineInterceptor(runtimeMethods.CreateContainer, async (request, context) => {
      if (request.podSandboxId === 'slow') {
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      }
      return { forward: request, afterResponse: (result) => void results.push(result) };
    }),
  ]);
  const { client, backend } = await startRig(t, { interceptors });
  const createPath = runtimeMethods.CreateContainer.path;
  const slow = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { podSandboxId: 'slow' }));
  const outcome = await callUnary(client, createPath, slow, {}, { deadline: Date.now() + 150 });
  t.equal(outcome.error?.code, grpc.status.DEADLINE_EXCEEDED);
  await waitFor(() => results.length === 1);
  // The relay's own deadline timer and grpc-js's cancel at its deadline race: either ends the call.
  const ended = results[0] as { ok: boolean; error?: { code: number } };
  t.equal(ended.ok, false);
  t.ok([GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.CANCELLED].some((code) => code === ended.error?.code), `deadline while deciding (code ${ended.error?.code})`);
  t.equal(backend.calls.length, 0, 'nothing forwarded after the deadline');

  await backend.close();
  const fast = toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { podSandboxId: 'fast' }));
  const down = await callUnary(client, createPath, fast);
  t.equal(down.error?.code, grpc.status.UNAVAILABLE);
  t.match(down.error?.details, `runtime at ${backend.path} is not reachable`);
  t.match(results[1], { ok: false, error: { code: GrpcStatus.UNAVAILABLE } }, 'runtime down');
});

t.test('the listening socket', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cri-relay-sock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const upstreamPath = join(dir, 'runtime.sock');

  await t.test('mode 0660 and a 0750 parent directory', async (t) => {
    const relay = await startRelay({ listenPath: join(dir, 'new', 'relay.sock'), upstreamPath });
    t.teardown(() => relay.close());
    t.equal((await stat(relay.listenPath)).mode & 0o777, 0o660);
    t.equal((await stat(join(dir, 'new'))).mode & 0o777, 0o750);
  });

  await t.test('a stale socket is replaced', async (t) => {
    const path = join(dir, 'stale.sock');
    // A process killed while listening leaves its socket file behind.
    const dead = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('ready'))", path]);
    await new Promise((resolve) => dead.stdout.once('data', resolve));
    dead.kill('SIGKILL');
    await new Promise((resolve) => dead.once('exit', resolve));
    await stat(path);
    const relay = await startRelay({ listenPath: path, upstreamPath });
    t.teardown(() => relay.close());
    t.pass('listening over a stale socket');
  });

  await t.test('a live socket is an error', async (t) => {
    const path = join(dir, 'live.sock');
    const live = createServer();
    await new Promise<void>((resolve) => live.listen(path, resolve));
    t.teardown(() => new Promise<void>((resolve) => live.close(() => resolve())));
    await t.rejects(startRelay({ listenPath: path, upstreamPath }), { name: 'RelayListenError', reason: 'socket-in-use' });
  });

  await t.test('a path that is not a socket is an error', async (t) => {
    const path = join(dir, 'file.sock');
    await writeFile(path, 'x');
    await t.rejects(startRelay({ listenPath: path, upstreamPath }), new RelayListenError('not-a-socket', ''));
  });
});

t.test('close lets calls in flight finish and refuses new ones', async (t) => {
  const { client, relay } = await startRig(t);
  const slow = callUnary(client, versionPath, versionRequest, { 'x-noop-delay-ms': '150' });
  await waitFor(() => relay.inFlight === 1);
  const closed = relay.close({ timeoutMs: 2000 });
  t.equal((await slow).error, null, 'the call in flight finished');
  await closed;
  const after = await callUnary(client, versionPath, versionRequest, {}, { deadline: Date.now() + 1000 });
  t.equal(after.error?.code, grpc.status.UNAVAILABLE, 'nothing listens any more');
  await t.rejects(stat(relay.listenPath), 'socket removed');
});

t.test('close cancels calls that outlive its timeout', async (t) => {
  const { client, relay, backend } = await startRig(t);
  const hung = callUnary(client, versionPath, versionRequest, { 'x-noop-hang': '1' });
  await waitFor(() => backend.calls.length === 1);
  await relay.close({ timeoutMs: 50 });
  const outcome = await hung;
  t.equal(outcome.error?.code, grpc.status.UNAVAILABLE);
  t.match(outcome.error?.details, /shut down/u);
});

t.test('a client that breaks HTTP/2 gets a GOAWAY with the reason; other connections go on', async (t) => {
  const { client, relay } = await startRig(t);
  const cases: Array<[string, Buffer, number]> = [
    ['no preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), H2Error.PROTOCOL_ERROR],
    ['DATA on a stream never opened', Buffer.concat([clientPreface, formatFrame(FrameType.SETTINGS, 0, 0), formatFrame(FrameType.DATA, 0, 1, Buffer.from('x'))]), H2Error.PROTOCOL_ERROR],
    ['a PING that is not 8 bytes', Buffer.concat([clientPreface, formatFrame(FrameType.SETTINGS, 0, 0), formatFrame(FrameType.PING, 0, 0, Buffer.alloc(7))]), H2Error.FRAME_SIZE_ERROR],
    ['a header block that does not decode', Buffer.concat([clientPreface, formatFrame(FrameType.SETTINGS, 0, 0), formatFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]), H2Error.COMPRESSION_ERROR],
  ];
  for (const [name, bytes, code] of cases) {
    const frames = await exchangeRaw(relay.listenPath, bytes);
    const goaway = frames.find((frame) => frame.type === FrameType.GOAWAY);
    t.equal(goaway?.payload.readUInt32BE(4), code, `${name}: GOAWAY with error ${code}`);
  }
  t.equal((await callUnary(client, versionPath, versionRequest)).error, null, 'the relay still serves');
});

/** Sends `bytes` on a new connection and reads the frames that come back until the relay closes it. */
function exchangeRaw(path: string, bytes: Buffer): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    const frames: Frame[] = [];
    const socket = connectSocket(path, () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => frames.push(...reader.read(chunk)));
    socket.on('error', reject);
    socket.on('close', () => resolve(frames));
  });
}

/** Reads `socket`'s frames, after `prefaceBytes` bytes of preface; acknowledges its SETTINGS and hands on every frame. */
function onFrames(socket: Socket, prefaceBytes: number, handle: (frame: Frame) => void): void {
  const reader = new FrameReader();
  let skip = prefaceBytes;
  socket.on('data', (chunk: Buffer) => {
    const bytes = chunk.subarray(Math.min(skip, chunk.length));
    skip -= chunk.length - bytes.length;
    for (const frame of reader.read(bytes)) {
      if (frame.type === FrameType.SETTINGS && (frame.flags & FrameFlag.ACK) === 0) socket.write(formatFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
      handle(frame);
    }
  });
}

/** A kubelet connection spoken frame by frame: keeps every frame the relay sends. */
class RawConnection {
  readonly frames: Frame[] = [];
  private readonly socket: Socket;

  constructor(path: string) {
    this.socket = connectSocket(path);
    onFrames(this.socket, 0, (frame) => this.frames.push(frame));
    this.send(Buffer.concat([clientPreface, formatFrame(FrameType.SETTINGS, 0, 0)]));
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** A unary call of `path` with `message` in one DATA frame, on `streamId`; resolves when its trailers end it. */
  async call(streamId: number, path: string, message: Buffer): Promise<void> {
    const headers = encodeLiteralHeaderBlock([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    this.send(Buffer.concat([formatHeadersFrames(streamId, headers, false, 16_384), formatFrame(FrameType.DATA, FrameFlag.END_STREAM, streamId, encodeGrpcFrame(message))]));
    await waitFor(() => this.received(FrameType.HEADERS).some((frame) => frame.streamId === streamId && (frame.flags & FrameFlag.END_STREAM) !== 0));
  }

  received(type: number): Frame[] {
    return this.frames.filter((frame) => frame.type === type);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A runtime that answers as grpc-go does: with each request's data it gives the connection window
 * back and PINGs (payload: the stream id), then echoes the message. Keeps the PINGs it receives.
 */
async function startGrpcGoLikeRuntime(path: string): Promise<{ readonly pings: Frame[]; close(): Promise<void> }> {
  const pings: Frame[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.write(formatFrame(FrameType.SETTINGS, 0, 0));
    onFrames(socket, clientPreface.length, (frame) => {
      if (frame.type === FrameType.PING) pings.push(frame);
      if (frame.type !== FrameType.DATA || (frame.flags & FrameFlag.END_STREAM) === 0) return;
      const id = frame.streamId;
      socket.write(
        Buffer.concat([
          formatWindowUpdate(0, frame.payload.length),
          formatFrame(FrameType.PING, 0, 0, Buffer.alloc(8, id)),
          formatHeadersFrames(id, encodeLiteralHeaderBlock([[':status', '200'], ['content-type', 'application/grpc']]), false, 16_384),
          formatFrame(FrameType.DATA, 0, id, frame.payload),
          formatHeadersFrames(id, encodeLiteralHeaderBlock([['grpc-status', '0']]), true, 16_384),
        ]),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    pings,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The relay in front of a grpc-go-like runtime, with a frame-by-frame kubelet connection to it. */
async function startGrpcGoRig(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'cri-relay-'));
  const runtime = await startGrpcGoLikeRuntime(join(dir, 'runtime.sock'));
  const relay = await startRelay({ listenPath: join(dir, 'run', 'relay.sock'), upstreamPath: join(dir, 'runtime.sock') });
  const kubelet = new RawConnection(relay.listenPath);
  t.teardown(async () => {
    kubelet.close();
    await relay.close({ timeoutMs: 500 });
    await runtime.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { runtime, kubelet };
}

const echoPath = '/runtime.v1.RuntimeService/SomeFutureMethod';
const isAck = (frame: Frame): boolean => (frame.flags & FrameFlag.ACK) !== 0;

t.test("PINGs are answered by the relay on each side; neither side sees the other's", async (t) => {
  const { runtime, kubelet } = await startGrpcGoRig(t);
  await kubelet.call(1, echoPath, Buffer.from('a call the runtime pings with'));
  await waitFor(() => runtime.pings.length > 0);
  t.ok(isAck(runtime.pings[0]!) && runtime.pings[0]!.payload.equals(Buffer.alloc(8, 1)), "the runtime's PING is answered");

  const payload = Buffer.from('8 bytes!');
  kubelet.send(formatFrame(FrameType.PING, 0, 0, payload));
  await waitFor(() => kubelet.received(FrameType.PING).length > 0);
  await kubelet.call(3, echoPath, Buffer.from('one more round trip through both connections'));
  const pingsAtKubelet = kubelet.received(FrameType.PING);
  t.equal(pingsAtKubelet.length, 1, "the runtime's PINGs never reached kubelet");
  t.ok(isAck(pingsAtKubelet[0]!) && pingsAtKubelet[0]!.payload.equals(payload), "kubelet's PING is answered with its payload");
  t.ok(runtime.pings.every(isAck), "kubelet's PING never reached the runtime");
});

t.test("kubelet's connection window comes back from the relay once half of it is used, not with every call", async (t) => {
  const { kubelet } = await startGrpcGoRig(t);
  const connectionUpdates = (): number[] =>
    kubelet.received(FrameType.WINDOW_UPDATE).filter((frame) => frame.streamId === 0).map((frame) => frame.payload.readUInt32BE(0));
  const small = Buffer.alloc(100, 1);
  const large = Buffer.alloc(16_000, 2);
  await kubelet.call(1, echoPath, small);
  await kubelet.call(3, echoPath, large);
  await kubelet.call(5, echoPath, large);
  const sent = 3 * 5 + small.length + 2 * large.length;
  t.ok(defaultWindowBytes - sent > defaultWindowBytes / 2, 'less than half the window used so far');
  t.same(connectionUpdates(), [], 'no connection window update yet, though the runtime gave its window back with each call');
  await kubelet.call(7, echoPath, large);
  t.same(connectionUpdates(), [sent + 5 + large.length], 'then all of it back at once');
});

t.test('frames split across chunks are reassembled by the reader', async (t) => {
  const reader = new GrpcFrameReader();
  const frame = encodeGrpcFrame(Buffer.from('hello'));
  t.same(reader.push(frame.subarray(0, 3)), []);
  t.equal(reader.push(frame.subarray(3)).length, 1);
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
