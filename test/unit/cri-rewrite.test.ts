// Pure CRI request helpers: cpuset rewriting, reading kubelet's cgroup parents and resources,
// id checks, and runtime endpoint choice.
import t from 'tap';
import { create, toBinary } from '@bufbuild/protobuf';
import { CpuSet } from '../../src/topology/cpuset.js';
import {
  ContainerConfigSchema,
  CreateContainerRequestSchema,
  PodSandboxConfigSchema,
  UpdateContainerResourcesRequestSchema,
} from '../../src/cri/gen/runtime/v1/api_pb.js';
import { decodeMessage, encodeForwardBody } from '../../src/cri/codec.js';
import { encodeGrpcFrame } from '../../src/cri/grpc-frame.js';
import {
  checkRuntimeId,
  cpuLimitMilliFromQuota,
  cpuRequestMilliFromShares,
  cpusetOverridesForCreate,
  cpusetOverridesForUpdate,
  guessQosFromResources,
  parseCgroupParent,
  parseVerboseInfoPid,
  qosFromCgroupParent,
  requestFromCri,
} from '../../src/cri/rewrite.js';
import { discoverRuntimeEndpoint, parseEndpoint, standardRuntimeSockets } from '../../src/cri/endpoint.js';
import { sentRequest } from '../helpers/sent-request.js';

t.test('a create is forwarded as kubelet sent it, with the cpuset set after it: sub-messages made as needed', async (t) => {
  const bare = create(CreateContainerRequestSchema, { podSandboxId: 'p' });
  const placed = sentRequest(CreateContainerRequestSchema, { forward: bare, overrides: cpusetOverridesForCreate(CpuSet.parse('2-3,6'), CpuSet.parse('0')) });
  t.equal(placed.config?.linux?.resources?.cpusetCpus, '2-3,6');
  t.equal(placed.config?.linux?.resources?.cpusetMems, '0');
  t.equal(placed.podSandboxId, 'p');

  const full = create(CreateContainerRequestSchema, {
    config: { metadata: { name: 'app' }, linux: { resources: { cpuShares: 2048n, cpusetCpus: '0-7', memoryLimitInBytes: 1024n } } },
  });
  const rewritten = sentRequest(CreateContainerRequestSchema, { forward: full, overrides: cpusetOverridesForCreate(CpuSet.of([1]), CpuSet.of([0])) });
  t.equal(rewritten.config?.linux?.resources?.cpusetCpus, '1', "the daemon's cpuset wins over kubelet's");
  t.equal(rewritten.config?.linux?.resources?.cpuShares, 2048n, 'other resources kept');
  t.equal(rewritten.config?.linux?.resources?.memoryLimitInBytes, 1024n);
  t.equal(rewritten.config?.metadata?.name, 'app', 'sibling sub-messages kept');
});

t.test('a forwarded request keeps the bytes kubelet sent, unknown fields included', async (t) => {
  const unknownField = Buffer.from([0xb8, 0x3e, 0x07]);
  const message = Buffer.concat([toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, { podSandboxId: 'p' })), unknownField]);
  const body = encodeGrpcFrame(message);
  const decoded = decodeMessage(CreateContainerRequestSchema, message);
  if (!decoded.ok) return t.fail('decodes');
  const received = { message: decoded.message, body };
  t.equal(encodeForwardBody(CreateContainerRequestSchema, received, decoded.message, undefined), body, 'unchanged: the very buffer received');
  const overrides = cpusetOverridesForCreate(CpuSet.of([1]), CpuSet.of([0]));
  const forwarded = encodeForwardBody(CreateContainerRequestSchema, received, decoded.message, overrides);
  t.same(forwarded.subarray(5, 5 + message.length), message, 'the received message first, byte for byte');
  t.same(forwarded.subarray(5 + message.length), toBinary(CreateContainerRequestSchema, overrides), 'then the overrides');
  const copy = create(CreateContainerRequestSchema, { podSandboxId: 'q' });
  t.same(encodeForwardBody(CreateContainerRequestSchema, received, copy, undefined), encodeGrpcFrame(toBinary(CreateContainerRequestSchema, copy)), 'a rewritten copy is encoded');
});

t.test("kubelet's update is forwarded with the daemon's cpuset after it: everything else applies", async (t) => {
  const update = create(UpdateContainerResourcesRequestSchema, {
    containerId: 'c',
    linux: { cpuShares: 512n, memoryLimitInBytes: 1n << 30n, cpusetCpus: '0-63' },
  });
  const kept = sentRequest(UpdateContainerResourcesRequestSchema, { forward: update, overrides: cpusetOverridesForUpdate(CpuSet.of([4, 5]), CpuSet.of([1])) });
  t.equal(kept.linux?.cpusetCpus, '4-5');
  t.equal(kept.linux?.cpusetMems, '1');
  t.equal(kept.linux?.cpuShares, 512n);
  t.equal(kept.linux?.memoryLimitInBytes, 1n << 30n);
  t.equal(kept.containerId, 'c');
  const bare = create(UpdateContainerResourcesRequestSchema);
  t.equal(sentRequest(UpdateContainerResourcesRequestSchema, { forward: bare, overrides: cpusetOverridesForUpdate(CpuSet.of([1]), CpuSet.of([0])) }).linux?.cpusetCpus, '1');
});

t.test('QoS from kubelet cgroup parents', async (t) => {
  const cases: Array<[string, ReturnType<typeof parseCgroupParent>]> = [
    ['/kubepods/pod1234-ab', { qos: 'Guaranteed', podUid: '1234-ab', driver: 'cgroupfs' }],
    ['/kubepods/burstable/pod1234-ab', { qos: 'Burstable', podUid: '1234-ab', driver: 'cgroupfs' }],
    ['/kubepods/besteffort/pod1234-ab', { qos: 'BestEffort', podUid: '1234-ab', driver: 'cgroupfs' }],
    ['/kubepods/besteffort/pod1234-ab/', { qos: 'BestEffort', podUid: '1234-ab', driver: 'cgroupfs' }],
    ['kubepods-pod1234_ab.slice', { qos: 'Guaranteed', podUid: '1234-ab', driver: 'systemd' }],
    ['kubepods-burstable-pod1234_ab.slice', { qos: 'Burstable', podUid: '1234-ab', driver: 'systemd' }],
    ['/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_ab.slice', { qos: 'BestEffort', podUid: '1234-ab', driver: 'systemd' }],
    ['', null],
    ['/k8s.io', null],
    ['/system.slice/pod12', null],
    ['/other/burstable/pod12', null],
    ['/kubepods/burstable', null],
  ];
  for (const [parent, expected] of cases) t.same(parseCgroupParent(parent), expected, parent || '(empty)');
  t.equal(qosFromCgroupParent('/kubepods/burstable/podx'), 'Burstable');
  t.equal(qosFromCgroupParent('nope'), null);
});

t.test('CPU amounts from kubelet encodings', async (t) => {
  for (const milli of [3, 10, 100, 250, 333, 500, 999, 1000, 1500, 2000, 64000]) {
    const shares = BigInt(Math.max(2, Math.floor((milli * 1024) / 1000)));
    t.equal(cpuRequestMilliFromShares(shares), milli, `${milli}m → ${shares} shares → back`);
    t.equal(cpuLimitMilliFromQuota(BigInt((milli * 100000) / 1000), 100000n), milli);
  }
  t.equal(cpuRequestMilliFromShares(2n), 0, 'the minimum 2 shares means no request');
  t.equal(cpuRequestMilliFromShares(0n), 0);
  t.equal(cpuLimitMilliFromQuota(0n, 100000n), null);
  t.equal(cpuLimitMilliFromQuota(-1n, 100000n), null);
  t.equal(cpuLimitMilliFromQuota(50000n, 0n), null);
});

t.test('requestFromCri', async (t) => {
  const sandbox = create(PodSandboxConfigSchema, {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'u1' },
    annotations: { 'cri-rebalancer/isolated': 'true' },
    linux: { cgroupParent: '/kubepods/podu1' },
  });
  const config = create(ContainerConfigSchema, {
    metadata: { name: 'nginx' },
    linux: { resources: { cpuShares: 2048n, cpuQuota: 200000n, cpuPeriod: 100000n, memoryLimitInBytes: 1n << 30n } },
  });
  t.same(requestFromCri(config, sandbox), {
    pod: 'web-0',
    namespace: 'shop',
    container: 'nginx',
    qos: 'Guaranteed',
    cpuRequestMilli: 2000,
    cpuLimitMilli: 2000,
    memoryLimitBytes: 1 << 30,
    annotations: { 'cri-rebalancer/isolated': 'true' },
  });
  const bare = requestFromCri(undefined, undefined);
  t.same(bare, { pod: '', namespace: '', container: '', qos: 'BestEffort', cpuRequestMilli: 0, cpuLimitMilli: null, memoryLimitBytes: null, annotations: {} });
  t.equal(requestFromCri(config, undefined).qos, 'Guaranteed', 'guessed from resources without a cgroup parent');
});

t.test('QoS guessed from resources', async (t) => {
  t.equal(guessQosFromResources(0, null, null), 'BestEffort');
  t.equal(guessQosFromResources(1000, 1000, 1 << 20), 'Guaranteed');
  t.equal(guessQosFromResources(500, 1000, 1 << 20), 'Burstable');
  t.equal(guessQosFromResources(500, null, null), 'Burstable');
});

t.test('runtime ids are checked before use', async (t) => {
  t.match(checkRuntimeId('a'.repeat(64), 'container'), { ok: true });
  t.match(checkRuntimeId('my-sandbox_1.2', 'sandbox'), { ok: true });
  for (const bad of ['', '../etc', 'a/b', '.hidden', 'a..b', 'a b', 'a\0b', 'x'.repeat(129), 'abc-']) {
    t.match(checkRuntimeId(bad, 'container'), { ok: false, reason: 'invalid-id', message: /invalid container id/u }, JSON.stringify(bad));
  }
  t.match(checkRuntimeId('y'.repeat(200), 'sandbox'), { ok: false, message: /\.\.\."/u }, 'long ids are shortened in the message');
});

t.test('runtime endpoints', async (t) => {
  t.same(parseEndpoint('unix:///run/containerd/containerd.sock'), { ok: true, path: '/run/containerd/containerd.sock' });
  t.same(parseEndpoint('/var/run/crio/crio.sock'), { ok: true, path: '/var/run/crio/crio.sock' });
  t.match(parseEndpoint('tcp://1.2.3.4:10000'), { ok: false, message: /only unix sockets/u });
  t.match(parseEndpoint('run/x.sock'), { ok: false, message: /not an absolute path/u });
  t.match(parseEndpoint('/run/../etc/x.sock'), { ok: false, message: /did you mean \/etc\/x\.sock/u });
  t.match(parseEndpoint('/run/x.sock/'), { ok: false, message: /did you mean \/run\/x\.sock\?/u });
  t.match(parseEndpoint('/run/x\0.sock'), { ok: false, message: /NUL/u });
  t.match(parseEndpoint(`/${'a'.repeat(120)}`), { ok: false, message: /longer than the 107 bytes/u });

  const listen = '/run/cri-rebalancer/cri-rebalancer.sock';
  const only = (present: string[]) => async (path: string) => present.includes(path);
  t.match(await discoverRuntimeEndpoint(null, listen, only(['/var/run/crio/crio.sock', '/run/containerd/containerd.sock'])), {
    ok: true,
    socket: { runtime: 'containerd' },
  });
  t.match(await discoverRuntimeEndpoint(null, listen, only(['/var/run/crio/crio.sock'])), { ok: true, socket: { runtime: 'cri-o' } });
  t.match(await discoverRuntimeEndpoint(null, listen, only([])), { ok: false, reason: 'not-found', message: /start containerd or CRI-O/u });
  t.match(await discoverRuntimeEndpoint('unix:///tmp/r.sock', listen, only([])), { ok: true, socket: { runtime: 'configured', path: '/tmp/r.sock' } });
  t.match(await discoverRuntimeEndpoint('relative.sock', listen), { ok: false, reason: 'invalid-endpoint' });
  t.match(await discoverRuntimeEndpoint(listen, listen), { ok: false, reason: 'loop' });
  t.match(await discoverRuntimeEndpoint(null, standardRuntimeSockets[0]!.path, only([standardRuntimeSockets[0]!.path])), { ok: false, reason: 'not-found' }, 'never its own socket');
  t.type((await discoverRuntimeEndpoint(null, listen)).ok, 'boolean', 'the real socket check runs');
});

t.test('pid from verbose status info', async (t) => {
  t.equal(parseVerboseInfoPid({ info: JSON.stringify({ pid: 4242, runtimeSpec: {} }) }), 4242);
  t.equal(parseVerboseInfoPid({}), null);
  t.equal(parseVerboseInfoPid({ info: 'not json' }), null);
  t.equal(parseVerboseInfoPid({ info: JSON.stringify({ pid: 0 }) }), null);
});
