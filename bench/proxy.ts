// Proxy benchmark (npm run bench:proxy [-- --containerd SOCKET]): the relay in front of the no-op
// CRI backend on unix sockets, compared with calling the backend directly in the same run:
// unary latency (interleaved direct/proxied calls in rounds; medians over rounds), the relay's and
// the backend's CPU time per call (each runs in its own child process; process.cpuUsage() deltas
// read over IPC), the load average, throughput with 64
// concurrent callers, and a 20,000-event GetContainerEvents stream. The last line printed is one
// JSON object with every number.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import { callServerStream, callUnary, createRawClient } from '../test/helpers/grpc-call.js';
import { ContainerEventResponseSchema, CreateContainerRequestSchema, VersionRequestSchema } from '../src/cri/gen/runtime/v1/api_pb.js';
import { runtimeMethods } from '../src/cri/relay.js';
import { benchContainerd, type ContainerdBenchResult } from './proxy-containerd.js';
import { compileChild, startChild, type Child } from './proxy-children.js';
import { median, percentile } from '../src/metrics/percentile.js';

const unaryCalls = 3000;
const latencyRounds = 6;
const cpuRounds = 4;
const cpuCallsPerRound = 500;
const warmupCalls = 300;
const concurrentCallers = 64;
const concurrentCalls = 12_800;
const streamEvents = 20_000;
const streamRounds = 3;

const round = (value: number, digits = 3): number => Number(value.toFixed(digits));

async function timeCall(client: grpc.Client, path: string, body: Uint8Array): Promise<number> {
  const start = process.hrtime.bigint();
  const outcome = await callUnary(client, path, body);
  if (outcome.error) throw new Error(`${path} failed: ${outcome.error.message}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Interleaved sequential calls, alternating which side goes first, in rounds: each round's p50s
 * and ratio stand alone and the medians over rounds are reported, so a burst of load from other
 * processes skews one round rather than the result.
 */
async function measureLatency(direct: grpc.Client, proxied: grpc.Client, path: string, body: Uint8Array) {
  for (let i = 0; i < warmupCalls; i += 1) {
    await timeCall(direct, path, body);
    await timeCall(proxied, path, body);
  }
  const perRound = unaryCalls / latencyRounds;
  const all = { direct: [] as number[], proxied: [] as number[] };
  const rounds = { directP50: [] as number[], proxiedP50: [] as number[], ratio: [] as number[] };
  for (let r = 0; r < latencyRounds; r += 1) {
    const directMs: number[] = [];
    const proxiedMs: number[] = [];
    for (let i = 0; i < perRound; i += 1) {
      if (i % 2 === 0) {
        directMs.push(await timeCall(direct, path, body));
        proxiedMs.push(await timeCall(proxied, path, body));
      } else {
        proxiedMs.push(await timeCall(proxied, path, body));
        directMs.push(await timeCall(direct, path, body));
      }
    }
    const [d50, p50] = [median(directMs), median(proxiedMs)];
    rounds.directP50.push(d50);
    rounds.proxiedP50.push(p50);
    rounds.ratio.push(p50 / d50);
    all.direct.push(...directMs);
    all.proxied.push(...proxiedMs);
  }
  const [d50, p50] = [median(rounds.directP50), median(rounds.proxiedP50)];
  const [d99, p99] = [percentile(all.direct, 0.99), percentile(all.proxied, 0.99)];
  return {
    calls: unaryCalls,
    rounds: latencyRounds,
    directP50Ms: round(d50),
    directP99Ms: round(d99),
    proxiedP50Ms: round(p50),
    proxiedP99Ms: round(p99),
    addedP50Ms: round(p50 - d50),
    addedP99Ms: round(p99 - d99),
    p50Ratio: round(median(rounds.ratio), 2),
    p50RatioPerRound: rounds.ratio.map((ratio) => round(ratio, 2)),
  };
}

/**
 * CPU µs per proxied call in the relay and, over the same calls, in the backend (one HTTP/2
 * endpoint per call where the relay is two). Proxied calls only, back to back: interleaved with
 * direct calls the relay would run every other call with colder caches than the backend, which
 * serves every call, and look costlier than it is.
 */
async function measureCpuPerCall(proxied: grpc.Client, relay: Child, backend: Child, path: string, body: Uint8Array) {
  const relayUs: number[] = [];
  const backendUs: number[] = [];
  for (let r = 0; r < cpuRounds; r += 1) {
    const [relayBefore, backendBefore] = [await relay.cpuMicros(), await backend.cpuMicros()];
    for (let i = 0; i < cpuCallsPerRound; i += 1) await timeCall(proxied, path, body);
    const [relayAfter, backendAfter] = [await relay.cpuMicros(), await backend.cpuMicros()];
    relayUs.push((relayAfter - relayBefore) / cpuCallsPerRound);
    backendUs.push((backendAfter - backendBefore) / cpuCallsPerRound);
  }
  return { relayUs: round(median(relayUs), 1), backendUs: round(median(backendUs), 1) };
}

async function measureThroughput(client: grpc.Client, path: string, body: Uint8Array): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const caller = async (): Promise<void> => {
    while (next < concurrentCalls) {
      next += 1;
      const outcome = await callUnary(client, path, body);
      if (outcome.error) throw new Error(`${path} failed: ${outcome.error.message}`);
    }
  };
  await Promise.all(Array.from({ length: concurrentCallers }, caller));
  return Math.round(concurrentCalls / (Number(process.hrtime.bigint() - start) / 1e9));
}

async function measureStream(client: grpc.Client): Promise<{ perSec: number; intact: boolean }> {
  const start = process.hrtime.bigint();
  const { messages, status } = await callServerStream(client, '/runtime.v1.RuntimeService/GetContainerEvents', new Uint8Array(), {
    'x-noop-events': String(streamEvents),
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const intact =
    status.code === 0 &&
    messages.length === streamEvents &&
    messages.every((bytes, i) => i % 997 !== 0 || fromBinary(ContainerEventResponseSchema, bytes).containerId === `c${i}`);
  return { perSec: Math.round(streamEvents / seconds), intact };
}


async function main(): Promise<void> {
  const containerdIndex = process.argv.indexOf('--containerd');
  const containerdSocket = containerdIndex >= 0 ? process.argv[containerdIndex + 1] : undefined;
  // Other processes on a small machine move these numbers more than the relay does: say how busy it was.
  const loadAtStart = round(loadavg()[0] ?? 0, 1);
  const dir = await mkdtemp(join(tmpdir(), 'bench-proxy-'));
  const backendPath = join(dir, 'noop.sock');
  const relayPath = join(dir, 'relay.sock');
  const childScript = await compileChild(dir);
  const backend = await startChild(childScript, ['backend', backendPath]);
  const relay = await startChild(childScript, ['relay', relayPath, backendPath]);
  const direct = createRawClient(backendPath);
  const proxied = createRawClient(relayPath);
  try {
    const version = toBinary(VersionRequestSchema, create(VersionRequestSchema, { version: 'v1' }));
    const createRequest = toBinary(
      CreateContainerRequestSchema,
      create(CreateContainerRequestSchema, {
        podSandboxId: 'a'.repeat(64),
        config: { metadata: { name: 'app' }, linux: { resources: { cpuShares: 1024n, cpuQuota: 100000n, cpuPeriod: 100000n, memoryLimitInBytes: 1n << 30n } } },
        sandboxConfig: { metadata: { name: 'pod', namespace: 'default', uid: 'u' }, linux: { cgroupParent: '/kubepods/podu' } },
      }),
    );

    const unary = await measureLatency(direct, proxied, runtimeMethods.Version.path, version);
    console.log(
      `unary Version: direct p50 ${unary.directP50Ms} ms p99 ${unary.directP99Ms} ms; proxied p50 ${unary.proxiedP50Ms} ms p99 ${unary.proxiedP99Ms} ms; ` +
        `ratio ${unary.p50Ratio} (rounds ${unary.p50RatioPerRound.join(', ')})`,
    );
    const intercepted = await measureLatency(direct, proxied, runtimeMethods.CreateContainer.path, createRequest);
    console.log(`intercepted CreateContainer (decode+encode): direct p50 ${intercepted.directP50Ms} ms; proxied p50 ${intercepted.proxiedP50Ms} ms; ratio ${intercepted.p50Ratio}`);
    const cpu = await measureCpuPerCall(proxied, relay, backend, runtimeMethods.Version.path, version);
    const interceptedCpu = await measureCpuPerCall(proxied, relay, backend, runtimeMethods.CreateContainer.path, createRequest);
    console.log(`CPU per call: relay ${cpu.relayUs} µs relayed, ${interceptedCpu.relayUs} µs intercepted; no-op backend ${cpu.backendUs} µs`);

    const directRate = await measureThroughput(direct, runtimeMethods.Version.path, version);
    const proxiedRate = await measureThroughput(proxied, runtimeMethods.Version.path, version);
    console.log(`64 concurrent callers: direct ${directRate} calls/s, proxied ${proxiedRate} calls/s`);

    const directStream: number[] = [];
    const proxiedStream: number[] = [];
    let intact = true;
    for (let i = 0; i < streamRounds; i += 1) {
      const d = await measureStream(direct);
      const p = await measureStream(proxied);
      directStream.push(d.perSec);
      proxiedStream.push(p.perSec);
      intact &&= d.intact && p.intact;
    }
    const stream = {
      events: streamEvents,
      rounds: streamRounds,
      directEventsPerSec: median(directStream),
      proxiedEventsPerSec: median(proxiedStream),
      ratio: round(median(proxiedStream) / median(directStream), 2),
      intact,
    };
    console.log(`20,000-event stream: direct ${stream.directEventsPerSec}/s, proxied ${stream.proxiedEventsPerSec}/s (${stream.ratio} of direct), intact ${intact}`);

    let containerd: ContainerdBenchResult | { error: string } | null = null;
    if (containerdSocket !== undefined) {
      const front = await startChild(childScript, ['relay', join(dir, 'containerd-relay.sock'), containerdSocket]);
      try {
        containerd = await benchContainerd({ directSocket: containerdSocket, proxiedSocket: join(dir, 'containerd-relay.sock') });
      } catch (error) {
        containerd = { error: (error as Error).message };
      } finally {
        await front.stop();
      }
      console.log(`containerd create+start: ${JSON.stringify(containerd)}`);
    }

    const result = {
      benchmark: 'proxy',
      backend: 'no-op CRI backend (raw HTTP/2) on a unix socket; client @grpc/grpc-js; relay and backend each in a child process, compiled by tsc',
      unary: { method: 'Version', ...unary, targetP50Ratio: 2.0, meetsTarget: unary.p50Ratio <= 2.0 },
      intercepted: { method: 'CreateContainer (pass-through interceptor)', ...intercepted },
      proxyCpu: {
        method: `process.cpuUsage() deltas of the relay and backend child processes over ${cpuCallsPerRound} sequential proxied calls; median of ${cpuRounds} rounds`,
        relayedUsPerCall: cpu.relayUs,
        interceptedUsPerCall: interceptedCpu.relayUs,
        backendUsPerCall: cpu.backendUs,
      },
      loadAverage1m: { start: loadAtStart, end: round(loadavg()[0] ?? 0, 1) },
      cpus: cpus().length,
      throughput: { callers: concurrentCallers, calls: concurrentCalls, directCallsPerSec: directRate, proxiedCallsPerSec: proxiedRate, ratio: round(proxiedRate / directRate, 2) },
      stream: { ...stream, target: 0.5, meetsTarget: stream.ratio >= 0.5 },
      containerd,
    };
    console.log(JSON.stringify(result));
  } finally {
    direct.close();
    proxied.close();
    await relay.stop();
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
