// Kubernetes quantities, QoS classes (the cases of Kubernetes' own qos_test.go, restated) and the
// pods file of the plan command.
import t from 'tap';
import { containerRequestsOf, formatPodsFileErrors, parsePodsFile } from '../../src/k8s/pods.js';
import { deriveQosClass, type ContainerResources } from '../../src/k8s/qos.js';
import { parseCpuMilli, parseMemoryBytes } from '../../src/k8s/quantity.js';

t.test('quantities', async (t) => {
  const cpu: [string | number, number][] = [
    ['2', 2000], ['500m', 500], ['0.1', 100], ['1.5', 1500], [0.25, 250], [3, 3000], ['100u', 1], ['1e3', 1000000], ['+1', 1000], ['.5', 500], ['1k', 1000000],
  ];
  for (const [input, milli] of cpu) t.same(parseCpuMilli(input), { ok: true, value: milli }, `cpu ${input}`);
  const memory: [string | number, number][] = [
    ['1Gi', 1024 ** 3], ['512Mi', 512 * 1024 ** 2], ['1G', 1e9], ['128974848', 128974848], ['129e6', 129e6], ['123M', 123e6], ['1.5Ki', 1536], ['0.5', 1], [1024, 1024],
  ];
  for (const [input, bytes] of memory) t.same(parseMemoryBytes(input), { ok: true, value: bytes }, `memory ${input}`);
  for (const bad of ['', 'abc', '1GB', '-1', '1.2.3', 'Gi', '99999999999E']) {
    const result = parseMemoryBytes(bad);
    t.notOk(result.ok, `"${bad}" is refused`);
    if (!result.ok) t.match(result.message, /quantity|negative|too large/);
  }
});

const resources = (requests: [number | null, number | null], limits: [number | null, number | null]): ContainerResources => ({
  requests: { cpuMilli: requests[0], memoryBytes: requests[1] },
  limits: { cpuMilli: limits[0], memoryBytes: limits[1] },
});

t.test('QoS classes as Kubernetes derives them', async (t) => {
  const rows: [string, ContainerResources[], string][] = [
    ['nothing', [resources([null, null], [null, null])], 'BestEffort'],
    ['zero requests count as nothing', [resources([0, 0], [null, null])], 'BestEffort'],
    ['limits only: requests default to them', [resources([null, null], [1000, 1024])], 'Guaranteed'],
    ['requests equal limits', [resources([2000, 1024], [2000, 1024])], 'Guaranteed'],
    ['fractional but equal', [resources([500, 1024], [500, 1024])], 'Guaranteed'],
    ['cpu request below its limit', [resources([500, 1024], [1000, 1024])], 'Burstable'],
    ['no memory limit', [resources([1000, null], [1000, null])], 'Burstable'],
    ['request only', [resources([100, null], [null, null])], 'Burstable'],
    ['one container without limits', [resources([1000, 1024], [1000, 1024]), resources([null, null], [null, null])], 'Burstable'],
    ['two guaranteed containers', [resources([1000, 1024], [1000, 1024]), resources([null, null], [2000, 2048])], 'Guaranteed'],
  ];
  for (const [name, containers, qos] of rows) t.equal(deriveQosClass(containers), qos, name);
});

t.test('pods file: parsed, defaulted, turned into requests', async (t) => {
  const text = `
- name: web
  annotations: {cri-rebalancer.io/shared-cpus: "true"}
  containers:
    - name: app
      resources:
        limits: {cpu: 2, memory: 1Gi}
    - name: sidecar
      resources:
        requests: {cpu: 100m}
- name: db
  namespace: data
  containers:
    - name: pg
      resources:
        requests: {cpu: "4", memory: 8Gi}
        limits: {cpu: "4", memory: 8Gi}
`;
  const result = parsePodsFile(text);
  t.ok(result.ok);
  if (!result.ok) return;
  const [web, db] = result.pods;
  t.equal(web!.namespace, 'default');
  const webRequests = containerRequestsOf(web!);
  t.same(webRequests.map((one) => [one.container, one.qos, one.cpuRequestMilli, one.cpuLimitMilli, one.memoryLimitBytes]), [
    ['app', 'Burstable', 2000, 2000, 1024 ** 3],
    ['sidecar', 'Burstable', 100, null, null],
  ]);
  t.same(webRequests[0]!.annotations, { 'cri-rebalancer.io/shared-cpus': 'true' });
  t.same(containerRequestsOf(db!).map((one) => [one.namespace, one.qos, one.cpuRequestMilli]), [['data', 'Guaranteed', 4000]]);
  const empty = parsePodsFile('');
  t.same(empty, { ok: true, pods: [] }, 'an empty file is no pods');
  const noResources = parsePodsFile('- name: a\n  containers: [{name: c}]\n');
  t.same(noResources.ok && containerRequestsOf(noResources.pods[0]!)[0]!.qos, 'BestEffort');
});

t.test('pods file: every error names its line', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['- name: a\n  containers:\n    - name: c\n      resources:\n        limits: {cpu: lots}\n', 'a bad quantity', /^pods.yaml:5:\d+: 0\.containers\.0\.resources\.limits\.cpu: "lots" is not a Kubernetes quantity/],
    ['- name: a\n  containers:\n    - name: c\n      resource: {}\n', 'a misspelt key', /^pods.yaml:3:\d+: 0\.containers\.0: unknown key resource/],
    ['- name: a\n  containers: []\n', 'no containers', /^pods.yaml:2:\d+: 0\.containers: a pod has at least one container/],
    ['- name: a\n  containers:\n  - name: [\n', 'broken YAML', /^pods.yaml:\d+:\d+: invalid YAML/],
    ['name: a\n', 'not a list', /^pods.yaml:1:1: the pods file is a YAML list/],
    ['- name: a\n  annotations: {x: true}\n  containers: [{name: c}]\n', 'an unquoted annotation', /^pods.yaml:2:\d+: 0\.annotations\.x: annotation values are strings/],
    ['- namespace: x\n  containers: [{name: c}]\n', 'no name', /^pods.yaml:1:\d+: 0\.name: must be a name/],
    ['- name: a\n  annotations:\n    1: 2\n  containers: [{name: c}]\n', 'a number-like key points at its value', /^pods.yaml:3:8: 0\.annotations\.1: annotation values are strings/],
  ];
  for (const [text, name, expected] of cases) {
    const result = parsePodsFile(text);
    t.notOk(result.ok, name);
    if (!result.ok) t.match(formatPodsFileErrors('pods.yaml', result.errors), expected, name);
  }
});
