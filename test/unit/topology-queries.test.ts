// Topology queries, the JSON and text forms, and the `topology` command, over named specs.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { command } from '../../src/commands/topology.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { discoverTopologySync } from '../../src/topology/discover.js';
import type { Topology } from '../../src/topology/types.js';
import { formatBytes, formatTopologyJson, formatTopologyText, type TopologyJson } from '../../src/topology/format.js';
import {
  allCores,
  cacheOfCpu,
  cachesAtLevel,
  coresOf,
  cpusOfNodes,
  cpusOfPackage,
  cpusSharingCache,
  dies,
  distance,
  memoryOnlyNodes,
  nodeById,
  nodeOfCpu,
  nodesByDistanceFrom,
  nodesOfCpus,
  threadsPerCore,
  wholeCoresOf,
} from '../../src/topology/queries.js';
import type { TopologySpec } from '../fixtures/spec.js';
import { armQuirks, epycEightNode, noNumaDesktop, pmemIsolated, qemuTwoNode, xeonGold6132 } from '../fixtures/specs.js';
import { generateSysfsTree } from '../helpers/sysfs-fixtures.js';

const topologies = new Map<string, Topology>();

/** A named spec's topology, generated and discovered once per process (never modified). */
function specTopology(spec: TopologySpec): Topology {
  let topology = topologies.get(spec.name);
  if (topology === undefined) {
    topology = discoverTopologySync(generateSysfsTree(spec).root);
    topologies.set(spec.name, topology);
  }
  return topology;
}

const goldRoot = generateSysfsTree(xeonGold6132).root;
const gold = discoverTopologySync(goldRoot);
const pmem = specTopology(pmemIsolated);
const plain = specTopology(noNumaDesktop);
const list = CpuSet.parse;

t.test('nodes, CPUs and distances', async (t) => {
  t.equal(nodeOfCpu(gold, 28), 0);
  t.equal(nodeOfCpu(gold, 14), 1);
  t.equal(nodeOfCpu(gold, 99), undefined);
  t.equal(nodeById(gold, 1)?.cpus.format(), '14-27,42-55');
  t.equal(nodeById(gold, 7), undefined);
  t.equal(distance(gold, 0, 1), 21);
  t.equal(distance(pmem, 6, 2), 17);
  t.equal(distance(plain, 0, 0), 10, 'no table: 10 to itself');
  t.equal(distance(plain, 0, 1), 20, 'no table: 20 to others');
  t.equal(nodesOfCpus(gold, list('0,14,99')).format(), '0-1');
  t.equal(nodesOfCpus(gold, list('28-41')).format(), '0');
  t.equal(cpusOfNodes(pmem, [0, 4]).format(), '0-3,16-19', 'memory-only nodes add no CPUs');
  t.equal(cpusOfNodes(pmem, [9]).format(), '');
  t.same(nodesByDistanceFrom(pmem, 0), [0, 1, 4, 2, 3, 5, 6, 7]);
  t.same(nodesByDistanceFrom(pmem, 4), [4, 0, 1, 2, 3, 5, 6, 7]);
  t.same(nodesByDistanceFrom(plain, 0), [0]);
  t.equal(memoryOnlyNodes(pmem).format(), '4-7');
  t.equal(memoryOnlyNodes(gold).format(), '');
});

t.test('cores, caches, packages and dies', async (t) => {
  t.equal(allCores(gold).length, 28);
  t.equal(allCores(gold), allCores(gold), 'computed once per topology');
  t.equal(allCores(gold)[0]?.format(), '0,28');
  t.same(coresOf(gold, list('0-1,28,99')).map(String), ['0,28', '1']);
  t.same(wholeCoresOf(gold, list('0-1,28')).map(String), ['0,28']);
  t.equal(threadsPerCore(gold), 2);
  t.equal(threadsPerCore(specTopology(qemuTwoNode)), 1);
  t.equal(cacheOfCpu(gold, 0, 3)?.cpus.format(), '0-13,28-41');
  t.equal(cacheOfCpu(gold, 0, 3)?.sizeBytes, 19712 * 1024);
  t.equal(cpusSharingCache(gold, 41, 2).format(), '13,41');
  t.equal(cpusSharingCache(gold, 99, 2).format(), '', 'not online');
  t.equal(cachesAtLevel(gold, 3).length, 2);
  t.equal(cachesAtLevel(gold, 2).length, 28);
  t.equal(cpusOfPackage(gold, 1).format(), '14-27,42-55');
  t.equal(cpusOfPackage(gold, 5).format(), '');
  const epyc = specTopology(epycEightNode);
  t.same(dies(epyc).map((die) => `${die.packageId}/${die.dieId}:${die.cpus}`).slice(0, 2), ['0/0:0-11', '0/1:12-23']);
  t.equal(dies(epyc).length, 8);
  t.equal(cachesAtLevel(epyc, 3).length, 16, 'one L3 per 3-core CCX');

  const { root } = generateSysfsTree(qemuTwoNode);
  rmSync(join(root, 'devices/system/cpu/cpu3/cache'), { recursive: true });
  const bare = discoverTopologySync(root);
  t.equal(cacheOfCpu(bare, 3, 3), undefined);
  t.equal(cpusSharingCache(bare, 3, 3).format(), '3', 'unknown cache: the CPU alone');
});

t.test('JSON form', async (t) => {
  const json = formatTopologyJson(gold);
  t.match(json, {
    sockets: 2,
    dies: 2,
    cores: 28,
    cpus: 56,
    threadsPerCore: 2,
    onlineCpus: '0-55',
    isolatedCpus: '',
    offlineCpus: '',
    absentCpus: '',
    memoryOnlyNodes: [],
  });
  t.same(json.numaNodes[0], {
    id: 0,
    cpus: '0-13,28-41',
    memoryBytes: 96 * 1024 ** 3,
    distances: { 0: 10, 1: 21 },
    memoryOnly: false,
  });
  t.same(json.packages[1], { id: 1, cpus: '14-27,42-55', dies: [{ id: 0, cpus: '14-27,42-55' }], numaNodes: [1] });
  t.same(json.caches.find((cache) => cache.level === 3), {
    key: 'L3:0',
    level: 3,
    type: 'Unified',
    sizeBytes: 19712 * 1024,
    cpus: '0-13,28-41',
  });
  t.same(json.cpuDetails[28], {
    id: 28,
    packageId: 0,
    dieId: 0,
    clusterId: -1,
    coreId: 0,
    nodeId: 0,
    threadSiblings: '0,28',
    l2: 'L2:0',
    l3: 'L3:0',
  });
  const arm = formatTopologyJson(specTopology(armQuirks));
  t.match(arm, { offlineCpus: '5', absentCpus: '16-31', threadsPerCore: 1 });
  t.equal(arm.cpuDetails.find((cpu) => cpu.id === 4)?.l2, 'L2:1');
  const bare = formatTopologyJson({ ...plain, absent: undefined, caches: [], cpus: new Map([...plain.cpus].map(([id, cpu]) => [id, { ...cpu, l2: undefined, l3: undefined }])) });
  t.match(bare, { absentCpus: '', caches: [] });
  t.equal(bare.cpuDetails[0]?.l3, null);
  t.same(formatTopologyJson(plain).numaNodes, [{ id: 0, cpus: '0-7', memoryBytes: null, distances: null, memoryOnly: false }]);
});

t.test('text form', async (t) => {
  const text = formatTopologyText(gold);
  t.match(text, /^2 sockets, 2 dies, 28 cores, 56 online CPUs \(up to 2 threads per core\), 2 NUMA nodes\n/u);
  t.match(text, /\nsocket 0\n {2}node 0: 96 GiB, CPUs 0-13,28-41, distances 0:10 1:21\n {4}L3 19\.3 MiB\n {6}cores: {2}0,28 {2}1,29 {2}2,30/u);
  t.match(text, /\nsocket 1\n {2}node 1: 96 GiB, CPUs 14-27,42-55/u);
  t.match(text, /\nisolated CPUs: none\noffline CPUs: none\n$/u);
  t.ok(text.split('\n').every((line) => line.length <= 100), 'core lists wrap at 100 columns');

  const pmemText = formatTopologyText(pmem);
  t.match(pmemText, /L3 32 MiB, shared with node 1\n/u);
  t.match(pmemText, /\nnodes without online CPUs\n {2}node 4: memory only, 124 GiB, nearest CPU node 0, distances 0:17 /u);
  t.match(pmemText, /\nisolated CPUs: 2-3,18-19\n/u);

  const armText = formatTopologyText(specTopology(armQuirks));
  t.match(armText, /^2 sockets, 2 dies, 15 cores, 15 online CPUs \(no SMT\), 2 NUMA nodes\nsocket 36\n/u);
  t.match(armText, /L2 1 MiB, cores: {2}0 {2}1 {2}2 {2}3\n/u);
  t.match(armText, /offline CPUs: 5\npossible but absent CPUs: 16-31\n$/u);

  const epycText = formatTopologyText(specTopology(epycEightNode));
  t.match(epycText, /\nsocket 0\n {2}die 0\n {4}node 0: 16 GiB, CPUs 0-11, distances 0:10 1:16 .* 4:32 .*\n {6}L3 8 MiB, CPUs 0-5\n/u);

  const plainText = formatTopologyText(plain);
  t.match(plainText, /^1 socket, 1 die, 4 cores, 8 online CPUs/u);
  t.match(plainText, /node 0: unknown size, CPUs 0-7, distances unknown\n/u);

  const noCaches = formatTopologyText({ ...plain, caches: [] });
  t.match(noCaches, /distances unknown\n {4}cores: {2}0,4 {2}1,5/u, 'cores straight under the node without L3 data');

  const { root } = generateSysfsTree(pmemIsolated);
  writeFileSync(join(root, 'devices/system/node/node7/meminfo'), 'Node 7 MemTotal: 0 kB\n');
  t.match(formatTopologyText(discoverTopologySync(root)), /node 7: 0 B, nearest CPU node 3/u);
});

t.test('formatBytes', async (t) => {
  t.equal(formatBytes(null), 'unknown size');
  t.equal(formatBytes(0), '0 B');
  t.equal(formatBytes(1536), '1.5 KiB');
  t.equal(formatBytes(2 * 1024 ** 5), '2048 TiB');
});

/** Runs the command in this process, capturing what it writes. */
async function runCommand(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = { stdout: '', stderr: '' };
  const original = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => ((output.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((output.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await command.run(args), ...output };
  } finally {
    process.stdout.write = original.stdout;
    process.stderr.write = original.stderr;
  }
}

t.test('the topology command', async (t) => {
  const json = await runCommand(['--sysfs', goldRoot, '--json']);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout) as TopologyJson, JSON.parse(JSON.stringify(formatTopologyJson(gold))));
  const text = await runCommand([`--sysfs=${goldRoot}`]);
  t.same(text, { code: 0, stdout: formatTopologyText(gold), stderr: '' });

  const missing = await runCommand(['--sysfs', join(goldRoot, 'nope')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^cri-rebalancer topology: .*nope\/devices\/system\/cpu\/online is missing .*usually \/sys\)\n$/u);
  const unknown = await runCommand(['--sysfss', goldRoot]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /Unknown option '--sysfss'[\s\S]*usage: cri-rebalancer topology/u);
  t.match(command.usage, /--sysfs ROOT/u);
});

t.test('this machine', { skip: existsSync('/sys/devices/system/cpu/online') ? false : 'no /sys here' }, async (t) => {
  const result = await runCommand(['--json']);
  t.equal(result.code, 0);
  const json = JSON.parse(result.stdout) as TopologyJson;
  t.ok(json.cpus > 0 && json.sockets > 0 && json.cores > 0, 'found CPUs, sockets and cores');
  t.equal(json.numaNodes.reduce((sum, node) => sum + CpuSet.parse(node.cpus).size, 0), json.cpus, 'nodes hold every online CPU');
});
