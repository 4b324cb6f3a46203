// The plan command: pods admitted in order by the daemon's engine, as JSON and as a table, and
// its exit codes for bad input.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { command, runPlan } from '../../src/commands/plan.js';
import { parsePodsFile } from '../../src/k8s/pods.js';
import { formatPlan, planPods, type Plan } from '../../src/placement/plan.js';
import { xeonGold6132 } from '../fixtures/specs.js';
import { generateSysfsTree } from '../helpers/sysfs-fixtures.js';
import { policyWith, specTopology } from './placement-topologies.js';

const podsYaml = `
- name: dns
  namespace: kube-system
  containers: [{name: coredns, resources: {limits: {cpu: 100m, memory: 64Mi}}}]
- name: db
  containers:
    - name: pg
      resources: {limits: {cpu: "4", memory: 8Gi}}
- name: web
  containers:
    - name: app
      resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}
- name: huge
  containers:
    - name: x
      resources: {limits: {cpu: "60", memory: 1Gi}}
`;

const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-plan-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

t.test('planPods admits in order and reports the final cpusets', async (t) => {
  const parsed = parsePodsFile(podsYaml);
  if (!parsed.ok) throw new Error('pods file should parse');
  const plan = planPods(specTopology(xeonGold6132), policyWith({ reserved: { count: 2 } }), parsed.pods);
  t.same(
    plan.placements.map((p) => [p.pod, p.qos, p.pool, p.cpus, p.mems, p.exclusive]),
    [
      ['dns', 'Guaranteed', 'reserved', '0,28', '0', false],
      ['db', 'Guaranteed', 'exclusive', '1-2,29-30', '0', true],
      ['web', 'Burstable', 'shared', '14-27,42-55', '1', false],
    ],
  );
  t.match(plan.placements[1]!.reasons.join('\n'), /rule 2: 4 exclusive CPUs on NUMA node 0/);
  t.same(plan.rejected, [
    { pod: 'huge', namespace: 'default', container: 'x', reason: 'insufficient-cpus', message: plan.rejected[0]!.message },
  ]);
  t.match(plan.rejected[0]!.message, /asked for 60 exclusive CPUs, 49 can be given/);
  t.equal(plan.sharedPool, '3-27,31-55');
  const table = formatPlan(plan);
  t.match(table, /^POD\s+CONTAINER\s+QOS\s+POOL\s+CPUS\s+MEMS\n/);
  t.match(table, /default\/db\s+pg\s+Guaranteed\s+exclusive\s+1-2,29-30\s+0/);
  t.match(table, /rejected default\/huge x: insufficient-cpus: asked for 60/);
  t.match(table, /shared pool: 3-27,31-55$/);
  t.match(formatPlan({ placements: [], rejected: [], sharedPool: '' }), /shared pool: \(empty\)/);
});

t.test('the command: JSON, table, exit codes', async (t) => {
  const { root } = generateSysfsTree(xeonGold6132);
  const pods = write('pods.yaml', podsYaml);
  const policy = write('policy.yaml', 'reserved:\n  count: 2\n');
  const run = async (args: string[]) => {
    const out = { stdout: '', stderr: '' };
    const code = await runPlan(args, { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text) });
    return { code, ...out };
  };

  const json = await run(['--sysfs', root, '--policy', policy, '--pods', pods, '--json']);
  t.equal(json.code, 0, json.stderr);
  const plan = JSON.parse(json.stdout) as Plan;
  t.same(Object.keys(plan), ['placements', 'rejected', 'sharedPool']);
  t.same(Object.keys(plan.placements[0]!), ['pod', 'namespace', 'container', 'qos', 'cpus', 'mems', 'exclusive', 'pool', 'reasons']);
  t.equal(plan.placements[0]!.cpus, '0,28');

  const table = await run(['--sysfs', root, '--pods', pods]);
  t.equal(table.code, 0);
  t.match(table.stdout, /kube-system\/dns\s+coredns\s+Guaranteed\s+shared\s+2-13,30-41/, 'default policy: no reserved CPUs, a fractional pod shares');

  const malformed = await run(['--sysfs', root, '--pods', write('bad.yaml', '- name: a\n  containers:\n    - name: c\n      resources: {limits: {cpu: x}}\n')]);
  t.equal(malformed.code, 2);
  t.match(malformed.stderr, /malformed pods file:\n.*bad\.yaml:4:\d+: 0\.containers\.0\.resources\.limits\.cpu: "x" is not a Kubernetes quantity/);

  t.equal((await run(['--sysfs', root])).code, 2, '--pods is required');
  t.equal(await command.run(['--pods']), 2, 'the command itself writes to stderr: an option without its value');
  t.match((await run(['--bogus'])).stderr, /Unknown option/);
  t.match((await run(['--pods', join(dir, 'missing.yaml')])).stderr, /cannot read the pods file/);
  const badPolicy = await run(['--sysfs', root, '--pods', pods, '--policy', write('p.yaml', 'reserved:\n  cout: 2\n')]);
  t.equal(badPolicy.code, 2);
  t.match(badPolicy.stderr, /invalid policy:\n.*p\.yaml:2:3/);
  const noSysfs = await run(['--sysfs', join(dir, 'nowhere'), '--pods', pods]);
  t.equal(noSysfs.code, 1);
  t.match(noSysfs.stderr, /cri-rebalancer plan: /);
});
