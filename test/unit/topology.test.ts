// Discovery over trees generated from the project's named specs (generate → discover → compare),
// the kernel quirks they reproduce, and the errors a broken tree gives.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CpuSet } from '../../src/topology/cpuset.js';
import { discoverTopology, discoverTopologySync, TopologyError } from '../../src/topology/discover.js';
import { parseDistances, parseMemTotalBytes } from '../../src/topology/discover-nodes.js';
import { parseSizeBytes } from '../../src/topology/discover-caches.js';
import type { Topology } from '../../src/topology/types.js';
import { formatMask, generateSysfs, layoutOf, type Layout } from '../fixtures/generate-sysfs.js';
import { topologySpec, type TopologySpec } from '../fixtures/spec.js';
import {
  armQuirks,
  namedSpecs,
  noNumaDesktop,
  pmemIsolated,
  qemuTwoNode,
  sncFourNode,
  twoSocket448,
  xeonGold6132,
} from '../fixtures/specs.js';
import { generateSysfsTree } from '../helpers/sysfs-fixtures.js';

const cpuDir = (root: string) => join(root, 'devices', 'system', 'cpu');
const nodeDir = (root: string) => join(root, 'devices', 'system', 'node');

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** Everything discovery should find, straight from the spec's layout. */
function checkAgainstLayout(t: Test, topology: Topology, layout: Layout, isolated: string, dieIds: boolean): void {
  t.equal(topology.online.format(), layout.online.format(), 'online');
  t.equal(topology.offline.format(), layout.present.difference(layout.online).format(), 'offline');
  t.equal(topology.absent?.format(), layout.possible.difference(layout.present).format(), 'absent');
  t.equal(topology.isolated.format(), CpuSet.parse(isolated).format(), 'isolated');
  t.same([...topology.cpus.keys()].sort((a, b) => a - b), layout.online.toArray(), 'one Cpu per online CPU');
  const wrong: string[] = [];
  for (const cpu of layout.cpus.filter((entry) => layout.online.has(entry.id))) {
    const found = topology.cpus.get(cpu.id)!;
    const siblings = CpuSet.of(layout.cpus.filter((o) => o.core === cpu.core && layout.online.has(o.id)).map((o) => o.id));
    const expected = { packageId: cpu.packageId, dieId: dieIds ? cpu.dieId : -1, coreId: cpu.coreId, nodeId: cpu.nodeId };
    const actual = { packageId: found.packageId, dieId: found.dieId, coreId: found.coreId, nodeId: found.nodeId };
    if (JSON.stringify(actual) !== JSON.stringify(expected) || !found.threadSiblings.equals(siblings)) {
      wrong.push(`cpu ${cpu.id}: ${JSON.stringify(actual)} ${found.threadSiblings} ≠ ${JSON.stringify(expected)} ${siblings}`);
    }
  }
  t.same(wrong, [], 'every CPU in its package, die, core, node, with its online siblings');
  t.same(
    topology.nodes.map((node) => ({
      id: node.id,
      cpus: node.cpus.format(),
      memoryBytes: node.memoryBytes,
      distances: node.distances === null ? null : [...node.distances.values()],
      memoryOnly: node.memoryOnly,
    })),
    layout.nodes.map((node) => ({
      id: node.id,
      cpus: node.cpus.intersect(layout.online).format(),
      memoryBytes: node.memoryBytes,
      distances: node.distances,
      memoryOnly: node.memoryOnly,
    })),
    'NUMA nodes',
  );
  for (const level of [2, 3] as const) {
    const groupOf = (cpu: (typeof layout.cpus)[number]) => (level === 2 ? cpu.l2Group : cpu.l3Group);
    const expected = [...new Set(layout.cpus.filter((cpu) => layout.online.has(cpu.id)).map(groupOf))].map((group) =>
      CpuSet.of(layout.cpus.filter((cpu) => groupOf(cpu) === group && layout.online.has(cpu.id)).map((cpu) => cpu.id)).format(),
    );
    const found = topology.caches.filter((cache) => cache.level === level).map((cache) => cache.cpus.format());
    t.same(found.sort(), expected.sort(), `L${level} instances and their CPUs`);
  }
  const keyless = [...topology.cpus.values()].filter((cpu) => cpu.l2 === undefined || cpu.l3 === undefined);
  t.same(keyless.map((cpu) => cpu.id), [], 'every CPU knows its L2 and L3');
}

/** Read-only topologies of the named specs, generated and discovered once per process. */
const discovered = new Map<string, { topology: Topology; layout: Layout }>();

function discoverSpec(spec: TopologySpec): { topology: Topology; layout: Layout } {
  let entry = discovered.get(spec.name);
  if (entry === undefined) {
    const { root, layout } = generateSysfsTree(spec);
    entry = { topology: discoverTopologySync(root), layout };
    discovered.set(spec.name, entry);
  }
  return entry;
}

t.test('every named spec: generate, discover, compare', async (t) => {
  for (const spec of namedSpecs) {
    t.test(spec.name, async (t) => {
      const { root, layout } = generateSysfsTree(spec);
      const started = performance.now();
      const topology = await discoverTopology(root);
      if (spec === twoSocket448) t.comment(`discovery of 448 CPUs: ${(performance.now() - started).toFixed(1)} ms`);
      discovered.set(spec.name, { topology, layout });
      checkAgainstLayout(t, topology, layout, spec.isolated, !spec.quirks?.noDieId);
    });
  }
});

t.test('named specs hold the facts their comments promise', async (t) => {
  const gold = discoverSpec(xeonGold6132).topology;
  t.equal(gold.online.size, 56);
  t.equal(gold.nodes[0]?.cpus.format(), '0-13,28-41');
  t.equal(gold.nodes[1]?.cpus.format(), '14-27,42-55');
  t.equal(gold.cpus.get(0)?.threadSiblings.format(), '0,28');
  t.same(gold.packages, [0, 1]);
  t.equal(gold.nodes[0]?.distances?.get(1), 21);

  const big = discoverSpec(twoSocket448).topology;
  t.equal(big.online.size, 448);
  t.equal(big.nodes.length, 4);
  t.equal(new Set([...big.cpus.values()].map((cpu) => cpu.threadSiblings.format())).size, 224, 'cores');

  const qemu = discoverSpec(qemuTwoNode).topology;
  t.same(qemu.nodes.map((node) => node.cpus.format()), ['0-1', '2-3']);
  t.equal(qemu.nodes[0]?.distances?.get(1), 21);
  t.same([...qemu.cpus.values()].map((cpu) => cpu.threadSiblings.size), [1, 1, 1, 1]);

  const pmem = discoverSpec(pmemIsolated).topology;
  t.same(pmem.nodes.filter((node) => node.memoryOnly).map((node) => node.id), [4, 5, 6, 7]);
  t.equal(pmem.isolated.format(), '2-3,18-19');
  t.equal(pmem.nodes[0]?.distances?.get(4), 17);
  t.equal(pmem.nodes[0]?.distances?.get(5), 28);

  const arm = discoverSpec(armQuirks).topology;
  t.same(arm.packages, [36, 8442]);
  t.equal(arm.cpus.get(0)?.dieId, -1);
  t.equal(arm.offline.format(), '5');
  t.equal(arm.absent?.format(), '16-31');
  t.equal(arm.caches.find((cache) => cache.level === 2)?.cpus.format(), '0-3', 'L2 shared by a 4-core cluster');
  t.equal(arm.caches.find((cache) => cache.level === 2 && cache.cpus.has(4))?.cpus.format(), '4,6-7', 'offline CPU left out');

  const desktop = discoverSpec(noNumaDesktop).topology;
  t.same(desktop.nodes, [{ id: 0, cpus: desktop.online, memoryBytes: null, distances: null, memoryOnly: false }]);
});

t.test('tolerates what real kernels leave out or write oddly', async (t) => {
  t.test('no cpu/online file: the cpuN directories not marked offline', async (t) => {
    const { root } = generateSysfsTree(armQuirks);
    rmSync(join(cpuDir(root), 'online'));
    t.equal(discoverTopologySync(root).online.format(), '0-4,6-15');
  });
  t.test('no present or possible file: the cpuN directories are present', async (t) => {
    const { root } = generateSysfsTree(armQuirks);
    rmSync(join(cpuDir(root), 'present'));
    rmSync(join(cpuDir(root), 'possible'));
    const topology = discoverTopologySync(root);
    t.equal(topology.offline.format(), '5');
    t.equal(topology.absent?.format(), '');
  });
  t.test('no sibling lists: threads grouped by package, die, cluster and core id', async (t) => {
    const { root } = generateSysfsTree(xeonGold6132);
    for (let cpu = 0; cpu < 56; cpu++) rmSync(join(cpuDir(root), `cpu${cpu}`, 'topology', 'thread_siblings_list'));
    const topology = discoverTopologySync(root);
    t.equal(topology.cpus.get(13)?.threadSiblings.format(), '13,41');
    t.equal(topology.cpus.get(14)?.threadSiblings.format(), '14,42');
  });
  t.test('a sibling list that leaves the CPU out is not trusted', async (t) => {
    const { root } = generateSysfsTree(qemuTwoNode);
    write(join(cpuDir(root), 'cpu1', 'topology', 'thread_siblings_list'), '0\n');
    t.equal(discoverTopologySync(root).cpus.get(1)?.threadSiblings.format(), '1');
  });
  t.test('node files: no online list, odd distance rows, meminfo without MemTotal', async (t) => {
    const { root } = generateSysfsTree(qemuTwoNode);
    rmSync(join(nodeDir(root), 'online'));
    write(join(nodeDir(root), 'node0', 'distance'), '10 21 30\n');
    write(join(nodeDir(root), 'node1', 'meminfo'), 'Node 1 MemFree: 5 kB\n');
    const [node0, node1] = discoverTopologySync(root).nodes;
    t.equal(node0?.distances, null);
    t.equal(node1?.memoryBytes, null);
    t.same([...(node1?.distances ?? [])], [[0, 21], [1, 10]]);
  });
  t.test('a CPU-less node: memory-only unless it has no memory', async (t) => {
    const { root } = generateSysfsTree(pmemIsolated);
    write(join(nodeDir(root), 'node5', 'meminfo'), 'Node 5 MemTotal: 0 kB\n');
    rmSync(join(nodeDir(root), 'node6', 'meminfo'));
    rmSync(join(nodeDir(root), 'node7', 'meminfo'));
    write(join(nodeDir(root), 'has_memory'), '0-6\n');
    const memoryOnly = discoverTopologySync(root).nodes.map((node) => node.memoryOnly);
    t.same(memoryOnly, [false, false, false, false, true, false, true, false]);
  });
  t.test('caches: no id, no shared list, clashing ids, instruction-only levels', async (t) => {
    const { root } = generateSysfsTree(qemuTwoNode);
    const index = (cpu: number, k: number) => join(cpuDir(root), `cpu${cpu}`, 'cache', `index${k}`);
    for (let cpu = 0; cpu < 4; cpu++) rmSync(join(index(cpu, 3), 'id'));
    rmSync(join(index(3, 2), 'shared_cpu_list'));
    write(join(index(2, 2), 'id'), '0\n');
    write(join(index(1, 2), 'type'), 'Instruction\n');
    const topology = discoverTopologySync(root);
    t.same(
      topology.caches.map((cache) => `${cache.key}=${cache.cpus}`),
      ['L2:0=0', 'L2:cpu2=2', 'L3:cpu0=0-1', 'L3:cpu2=2-3'],
    );
    t.equal(topology.cpus.get(1)?.l2, undefined, 'an instruction cache is no L2');
    t.equal(topology.cpus.get(3)?.l2, undefined, 'no shared list, no instance');
    t.equal(topology.cpus.get(3)?.l3, 'L3:cpu2');
  });
  t.test('parsers', async (t) => {
    t.equal(parseSizeBytes('512K'), 512 * 1024);
    t.equal(parseSizeBytes('32M'), 32 * 1024 ** 2);
    t.equal(parseSizeBytes('1G'), 1024 ** 3);
    t.equal(parseSizeBytes('4096'), 4096);
    t.equal(parseSizeBytes('big'), null);
    t.equal(parseSizeBytes(null), null);
    t.equal(parseMemTotalBytes('Node 0 MemTotal:       7881912 kB\nNode 0 MemFree: 1 kB'), 7881912 * 1024);
    t.equal(parseMemTotalBytes(null), null);
    t.equal(parseDistances('', [0]), null);
    t.equal(parseDistances('10 x', [0, 1]), null);
    t.same([...parseDistances('10 40', [0, 8])!], [[0, 10], [8, 40]]);
    t.equal(formatMask(CpuSet.parse('0,33'), 2), '00000002,00000001');
  });
});

t.test('errors name the file and say what to do', async (t) => {
  const rejects = (root: string, pattern: RegExp, path: string) => {
    try {
      discoverTopologySync(root);
      t.fail('expected a TopologyError');
    } catch (error) {
      t.type(error, TopologyError);
      t.match((error as TopologyError).message, pattern);
      t.equal((error as TopologyError).path, path);
      t.equal((error as TopologyError).code, 'ERR_TOPOLOGY');
    }
  };
  const empty = generateSysfsTree(topologySpec({ name: 'unused', sockets: 1, coresPerNode: 1, threadsPerCore: 1 })).root;
  rejects(join(empty, 'nowhere'), /online is missing .*usually \/sys/u, join(cpuDir(join(empty, 'nowhere')), 'online'));
  write(join(cpuDir(empty), 'online'), '\n');
  rmSync(join(cpuDir(empty), 'cpu0'), { recursive: true });
  rejects(empty, /online is empty/u, join(cpuDir(empty), 'online'));
  await t.rejects(discoverTopology(join(empty, 'nowhere')), { code: 'ERR_TOPOLOGY' });
  const dumpDir = generateSysfsTree(qemuTwoNode).root;
  rmSync(join(dumpDir, 'devices'), { recursive: true });
  generateSysfs(qemuTwoNode, join(dumpDir, 'sys'));
  rejects(dumpDir, /usually \/sys\); .*\/sys looks like one$/u, join(cpuDir(dumpDir), 'online'));
  const tooLong = join(empty, 'x'.repeat(300));
  rejects(tooLong, /cannot list .*cpu: ENAMETOOLONG/u, cpuDir(tooLong));

  const { root } = generateSysfsTree(qemuTwoNode);
  const topologyFile = (name: string) => join(cpuDir(root), 'cpu1', 'topology', name);
  rmSync(topologyFile('core_id'));
  rejects(root, /core_id is missing or empty \(the core of online cpu 1\)/u, topologyFile('core_id'));
  write(topologyFile('core_id'), 'one\n');
  rejects(root, /core_id: expected an integer, found "one"/u, topologyFile('core_id'));
  write(topologyFile('core_id'), '1\n');
  write(join(cpuDir(root), 'isolated'), '3-1\n');
  rejects(root, /isolated: invalid cpulist/u, join(cpuDir(root), 'isolated'));
  write(join(cpuDir(root), 'isolated'), '\n');
  write(join(nodeDir(root), 'node1', 'cpulist'), '2\n');
  rejects(root, /cpu 3 is online but no .*cpulist names it/u, nodeDir(root));
  rmSync(join(nodeDir(root), 'node1', 'cpulist'));
  rejects(root, /node1\/cpulist is missing/u, join(nodeDir(root), 'node1'));
  mkdirSync(join(nodeDir(root), 'node1', 'cpulist'));
  rejects(root, /cannot read .*node1\/cpulist/u, join(nodeDir(root), 'node1', 'cpulist'));
});

t.test('layouts number CPUs as Linux does', async (t) => {
  t.same(layoutOf(sncFourNode).nodes.map((node) => (node.memoryBytes ?? 0) / 1024 ** 3), [46, 48, 48, 48]);
  t.throws(() => layoutOf({ ...sncFourNode, memoryBytesPerNode: [1] }), /no entry for node 1/u);
  const layout = layoutOf(topologySpec({ name: 'seq', sockets: 1, coresPerNode: 2, threadsPerCore: 2, numbering: 'sequential' }));
  t.same(layout.cpus.map((cpu) => cpu.core), [0, 0, 1, 1]);
  const intel = layoutOf(topologySpec({ name: 'intel', sockets: 1, coresPerNode: 2, threadsPerCore: 2 }));
  t.same(intel.cpus.map((cpu) => cpu.core), [0, 1, 0, 1]);
});
