// The proxy is invisible: every method the real containerd supports answers the same through the
// daemon as directly (byte for byte where the runtime's answer is deterministic: no Go maps), errors
// included, and the event stream carries the same events. Bad input gets a clean error and
// changes nothing: no allocation, no pod or container, no cgroup touched, the daemon still serving.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { isDeepStrictEqual } from 'node:util';
import { readCgroupCpuset } from './harness/cgroups.js';
import { findContainerdPrerequisites } from './harness/prerequisites.js';
import { startProxiedRuntime, type ProxiedRuntime } from './harness/proxied-runtime.js';
import { busyboxImage } from './images/test-images.js';
import {
  formatContainerConfig,
  isCriError,
  readContainerRuntimeInfo,
  runContainer,
  runPod,
  type CriMessage,
  type CriService,
  type CriTestClient,
} from '../helpers/cri-test-client.js';
import { findDaemonPrerequisites, runCli } from '../helpers/daemon-process.js';
import { formatGrpcFrame, sendRawGrpc } from '../helpers/raw-grpc-request.js';
import { repoRoot } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait-until.js';
import type { StatusReport } from '../../src/control/report.js';

t.setTimeout(300_000);
const skip = (await findContainerdPrerequisites(repoRoot)) ?? (await findDaemonPrerequisites());

type Outcome = { ok: true; bytes: Buffer } | { ok: false; code: number; details: string };

async function callOutcome(client: CriTestClient, service: CriService, method: string, request: object): Promise<Outcome> {
  try {
    return { ok: true, bytes: await client.callRaw(service, method, request) };
  } catch (error) {
    if (!isCriError(error)) throw error;
    return { ok: false, code: error.code, details: error.details };
  }
}

/** Lists come from Go maps (any order) and stats move with time: compare what must not differ. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(normalize);
    const key = (item: unknown): string => JSON.stringify(item);
    return items.sort((a, b) => key(a).localeCompare(key(b)));
  }
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const volatile = /timestamp|usage|working_set|available_bytes|rss_bytes|page_faults|used_bytes|inodes_used/u;
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([name]) => !volatile.test(name))
        .map(([name, item]) => [name, normalize(item)]),
    );
  }
  return value;
}

let runtime: ProxiedRuntime;
let podId = '';
let containerId = '';

t.before(async () => {
  if (skip !== null) return;
  runtime = await startProxiedRuntime({ repoRoot });
  const pod = await runPod(
    runtime.proxied,
    runtime.sandbox.newPod({ name: 'differential', namespace: 'default', qos: 'Burstable', annotations: { 'example.com/kept': 'yes' } }),
  );
  podId = pod.id;
  containerId = await runContainer(runtime.proxied, pod, { name: 'app', cpuRequestMilli: 100 }, busyboxImage);
});
t.teardown(async () => {
  if (skip === null) await runtime.destroy();
});

t.test('every supported method answers the same through the proxy as directly', { skip: skip ?? false }, async (t) => {
  const exact: [CriService, string, object][] = [
    ['RuntimeService', 'Version', { version: 'v1' }],
    ['RuntimeService', 'Status', {}],
    ['RuntimeService', 'ExecSync', { container_id: containerId, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeout: 10 }],
    ['ImageService', 'ImageStatus', { image: { image: busyboxImage } }],
  ];
  for (const [service, method, request] of exact) {
    const direct = await callOutcome(runtime.direct, service, method, request);
    const proxied = await callOutcome(runtime.proxied, service, method, request);
    t.ok(direct.ok, `${method} works directly`);
    t.same(proxied, direct, `${method}: the same bytes through the proxy`);
  }

  // Messages with maps: containerd writes map entries in Go's random order, so compare decoded.
  const decoded: [CriService, string, object][] = [
    ['RuntimeService', 'PodSandboxStatus', { pod_sandbox_id: podId }],
    ['RuntimeService', 'ContainerStatus', { container_id: containerId }],
    ['RuntimeService', 'ListPodSandbox', {}],
    ['RuntimeService', 'ListContainers', {}],
    ['RuntimeService', 'ContainerStats', { container_id: containerId }],
    ['RuntimeService', 'ListContainerStats', {}],
    ['ImageService', 'ListImages', {}],
    ['ImageService', 'ImageFsInfo', {}],
  ];
  for (const [service, method, request] of decoded) {
    const direct = await runtime.direct.call(service, method, request);
    const proxied = await runtime.proxied.call(service, method, request);
    t.same(normalize(proxied), normalize(direct), `${method}: the same answer through the proxy (order and live counters aside)`);
  }

  const status = await runtime.proxied.call<{ status: { annotations: Record<string, string> } }>('RuntimeService', 'PodSandboxStatus', {
    pod_sandbox_id: podId,
  });
  t.equal(status.status.annotations['example.com/kept'], 'yes', 'pod annotations reach the runtime');
  // The security contexts are fields the proxy's proto leaves out: it rewrote both requests.
  const verboseConfig = async (method: string, request: object): Promise<unknown> => {
    const response = await runtime.direct.call<{ info: Record<string, string> }>('RuntimeService', method, { ...request, verbose: true });
    return (JSON.parse(response.info['info'] ?? '{}') as { config?: unknown }).config;
  };
  t.match(
    await verboseConfig('PodSandboxStatus', { pod_sandbox_id: podId }),
    { linux: { security_context: { namespace_options: { network: 2 } } } },
    'RunPodSandbox reached containerd with its host-network security context',
  );
  t.match(
    await verboseConfig('ContainerStatus', { container_id: containerId }),
    { linux: { security_context: { namespace_options: { network: 2 } } } },
    'CreateContainer reached containerd with its security context',
  );

  for (const [method, request] of [
    ['ContainerStatus', { container_id: 'no-such-container' }],
    ['PodSandboxStatus', { pod_sandbox_id: 'no-such-pod' }],
    ['ExecSync', { container_id: 'no-such-container', cmd: ['true'] }],
  ] as const) {
    const direct = await callOutcome(runtime.direct, 'RuntimeService', method, request);
    const proxied = await callOutcome(runtime.proxied, 'RuntimeService', method, request);
    t.notOk(direct.ok, `${method} of an unknown id fails directly`);
    t.same(proxied, direct, `${method} of an unknown id: the same code and message through the proxy`);
  }
});

t.test('the event stream carries the same events through the proxy', { skip: skip ?? false }, async (t) => {
  const sides = ['direct', 'proxied'] as const;
  const streams = { direct: runtime.direct.containerEvents(), proxied: runtime.proxied.containerEvents() };
  const seen: Record<(typeof sides)[number], CriMessage[]> = { direct: [], proxied: [] };
  const ended: Partial<Record<(typeof sides)[number], { code: number; details: string }>> = {};
  for (const side of sides) {
    streams[side].on('data', (event: CriMessage) => seen[side].push(event));
    streams[side].on('error', () => undefined);
    streams[side].on('status', ({ code, details }: grpc.StatusObject) => {
      ended[side] = { code, details };
    });
  }
  t.teardown(() => {
    for (const side of sides) streams[side].cancel();
  });
  // Let both subscriptions reach containerd before anything happens.
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (ended.direct !== undefined) {
    // containerd before 1.7 has no event stream: the proxy must end it the same way.
    await waitUntil(() => ended.proxied, (status) => status !== undefined);
    t.same(ended.proxied, ended.direct, `the stream ends the same way through the proxy (${grpc.status[ended.direct.code]}: ${ended.direct.details})`);
    return;
  }
  const pod = await runPod(runtime.proxied, runtime.sandbox.newPod({ name: 'events', namespace: 'default', qos: 'BestEffort' }));
  const id = await runContainer(runtime.proxied, pod, { name: 'app' }, busyboxImage);
  const summary = (events: CriMessage[]): string[] =>
    events.filter((event) => event['container_id'] === id).map((event) => String(event['container_event_type']));
  await waitUntil(
    () => sides.map((side) => summary(seen[side])),
    (summaries) => summaries.every((events) => events.includes('CONTAINER_STARTED_EVENT')),
  );
  t.same(summary(seen.proxied), summary(seen.direct), `the same events: ${summary(seen.direct).join(', ')}`);
  t.same(
    seen.proxied.filter((event) => event['container_id'] === id).map(normalize),
    seen.direct.filter((event) => event['container_id'] === id).map(normalize),
    'with the same contents',
  );
});

function withoutCallTimes(statusJson: string): Omit<StatusReport, 'calls'> {
  const { calls: _calls, ...state } = JSON.parse(statusJson) as StatusReport;
  return state;
}

t.test('bad input gets a clean error and changes nothing', { skip: skip ?? false }, async (t) => {
  const { daemon } = runtime;
  const snapshot = async (): Promise<unknown> => ({
    // The daemon's own view (allocations, CPU owners, containers), as `status --json` reports it,
    // less the call counts and times, which every call changes.
    state: withoutCallTimes((await runCli(['status', '--json', '--control-socket', daemon.controlSocket])).stdout),
    pods: normalize((await runtime.direct.call('RuntimeService', 'ListPodSandbox')).items),
    containers: normalize((await runtime.direct.call('RuntimeService', 'ListContainers')).containers),
    cpuset: readCgroupCpuset((await readContainerRuntimeInfo(runtime.direct, containerId)).cgroupPath),
  });
  const before = await snapshot();

  const createPath = '/runtime.v1.RuntimeService/CreateContainer';
  const truncated = await sendRawGrpc(daemon.socket, createPath, formatGrpcFrame(Buffer.alloc(10), 100));
  t.ok(truncated.grpcStatus !== undefined && truncated.grpcStatus !== 0, `a truncated frame gets an error (${truncated.grpcStatus}: ${truncated.grpcMessage})`);
  // Field 2 (config) declared 2^28 bytes long in a 6-byte message.
  const garbage = Buffer.from([0x12, 0x80, 0x80, 0x80, 0x80, 0x01]);
  for (const method of ['CreateContainer', 'RunPodSandbox', 'UpdateContainerResources', 'RemovePodSandbox']) {
    const outcome = await sendRawGrpc(daemon.socket, `/runtime.v1.RuntimeService/${method}`, formatGrpcFrame(garbage));
    t.ok(outcome.grpcStatus !== undefined && outcome.grpcStatus !== 0, `${method} with a message that does not decode: ${outcome.grpcStatus}: ${outcome.grpcMessage}`);
  }

  const hostileIds = ['../../etc', '../../../sys/fs/cgroup/cpuset', 'a/b', '..'];
  for (const id of [...hostileIds, 'no-such-container']) {
    for (const [method, request] of [
      ['StartContainer', { container_id: id }],
      ['UpdateContainerResources', { container_id: id, linux: { cpuset_cpus: '0' } }],
      ['StopContainer', { container_id: id, timeout: 1 }],
      ['RemoveContainer', { container_id: id }],
      ['StopPodSandbox', { pod_sandbox_id: id }],
      ['RemovePodSandbox', { pod_sandbox_id: id }],
    ] as const) {
      const proxied = await callOutcome(runtime.proxied, 'RuntimeService', method, request);
      const direct = await callOutcome(runtime.direct, 'RuntimeService', method, request);
      // Either the runtime's own answer, relayed, or the daemon's refusal before forwarding.
      const refused = !proxied.ok && [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND].includes(proxied.code) && proxied.details !== '';
      t.ok(refused || isDeepStrictEqual(proxied, direct), `${method}(${JSON.stringify(id)}): ${proxied.ok ? 'ok, as directly' : `${proxied.code}: ${proxied.details}`}`);
    }
    const create = await callOutcome(runtime.proxied, 'RuntimeService', 'CreateContainer', {
      pod_sandbox_id: id,
      config: formatContainerConfig(
        { name: 'hostile', cpuRequestMilli: 1000, cpuLimitMilli: 1000 },
        runtime.sandbox.newPod({ name: 'hostile', namespace: 'default', qos: 'Guaranteed' }),
        busyboxImage,
      ),
    });
    t.ok(!create.ok && create.details !== '', `CreateContainer in pod ${JSON.stringify(id)} fails cleanly: ${create.ok ? '' : create.details}`);
  }

  const version = await runtime.proxied.call('RuntimeService', 'Version', { version: 'v1' });
  t.match(version, { runtime_name: 'containerd' }, 'the daemon still serves');
  const after = await snapshot();
  t.same(after, before, 'no allocation, pod, container or cgroup changed');
});
