// Discovery against the shared dumps of real machines (../shared/fixtures/sysfs): every fact
// below is copied from that fixture's NOTES.md (its "Counts" table and "Machine" text), never
// computed from the tree by this project's code.
import t from 'tap';
import { discoverTopology } from '../../src/topology/discover.js';
import { formatTopologyJson } from '../../src/topology/format.js';
import { cachesAtLevel } from '../../src/topology/queries.js';
import { hasSharedFixtures } from '../helpers/paths.js';
import { sharedFixtureNames, unpackSharedFixture } from '../helpers/sysfs-fixtures.js';

interface Facts {
  sockets: number;
  /** NOTES says "n/a (no die_id files)" for old kernels: then one die per package is counted. */
  dies: number;
  cores: number;
  online: string;
  threadsPerCore: number;
  nodes: number[];
  memoryOnlyNodes: number[];
  isolated: string;
  /** Present but offline. */
  offline: string;
  /** Possible but not present (the kernel's `cpu/offline` lists these too). */
  absent: string;
  l2Instances: number;
  l3Instances: number;
  /** One node's CPUs, where NOTES spells them out. */
  nodeCpus?: { node: number; cpus: string };
  /** The first node's MemTotal in kB, or null where NOTES says n/a. */
  firstNodeMemTotalKb: number | null;
  /** The first node's distance row, or null where NOTES says n/a. */
  firstNodeDistances: number[] | null;
  packages?: number[];
}

const expected: Record<string, Facts> = {
  'amd-epyc7451-2s-8node': {
    sockets: 2, dies: 2, cores: 48, online: '0-95', threadsPerCore: 2, nodes: [0, 1, 2, 3, 4, 5, 6, 7],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 48, l3Instances: 16,
    nodeCpus: { node: 7, cpus: '42-47,90-95' }, firstNodeMemTotalKb: null, firstNodeDistances: null,
  },
  'amd-ryzen5-1600-desktop': {
    sockets: 1, dies: 1, cores: 6, online: '0-11', threadsPerCore: 2, nodes: [0],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 6, l3Instances: 2,
    firstNodeMemTotalKb: null, firstNodeDistances: [10],
  },
  'arm-kunpeng920-2s-4node': {
    sockets: 2, dies: 2, cores: 128, online: '0-127', threadsPerCore: 1, nodes: [0, 1, 2, 3],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 128, l3Instances: 4,
    firstNodeMemTotalKb: 131732940, firstNodeDistances: [10, 16, 32, 33], packages: [36, 8442],
  },
  'ibm-power9-2s-gpu-hbm-nodes': {
    sockets: 2, dies: 2, cores: 8, online: '0-15,88-103', threadsPerCore: 4, nodes: [0, 8, 250, 251, 252, 253, 254, 255],
    memoryOnlyNodes: [250, 251, 252, 253, 254, 255], isolated: '', offline: '', absent: '16-87,104-175',
    l2Instances: 4, l3Instances: 4, firstNodeMemTotalKb: 129839104, firstNodeDistances: [10, 40, 80, 80, 80, 80, 80, 80],
    packages: [0, 8],
  },
  'intel-core-10c-ht-desktop': {
    sockets: 1, dies: 1, cores: 10, online: '0-19', threadsPerCore: 2, nodes: [0],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 10, l3Instances: 1,
    firstNodeMemTotalKb: 65621548, firstNodeDistances: [10],
  },
  'intel-core-i7-1370p-hybrid': {
    sockets: 1, dies: 1, cores: 14, online: '0-19', threadsPerCore: 2, nodes: [0],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 8, l3Instances: 1,
    firstNodeMemTotalKb: 32489480, firstNodeDistances: [10],
  },
  'intel-xeon-2s-snc2-20c-ht': {
    sockets: 2, dies: 2, cores: 40, online: '0-79', threadsPerCore: 2, nodes: [0, 1, 2, 3],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 40, l3Instances: 2,
    nodeCpus: { node: 0, cpus: '0-2,5-6,10-12,15-16,40-42,45-46,50-52,55-56' },
    firstNodeMemTotalKb: 48005604, firstNodeDistances: [10, 11, 21, 21],
  },
  'intel-xeon-2s-snc2-28c-ht-pmem-isolated': {
    sockets: 2, dies: 2, cores: 56, online: '0-111', threadsPerCore: 2, nodes: [0, 1, 2, 3, 4, 5, 6, 7],
    memoryOnlyNodes: [4, 5, 6, 7], isolated: '4-7,60-63', offline: '', absent: '', l2Instances: 56, l3Instances: 2,
    firstNodeMemTotalKb: 32404120, firstNodeDistances: [10, 21, 11, 21, 17, 28, 28, 28],
  },
  'intel-xeon-4s-18c-ht': {
    sockets: 4, dies: 4, cores: 72, online: '0-143', threadsPerCore: 2, nodes: [0, 1, 2, 3],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 72, l3Instances: 4,
    firstNodeMemTotalKb: 196726504, firstNodeDistances: [10, 21, 21, 21],
  },
  'intel-xeon-silver4108-2s-ht': {
    sockets: 2, dies: 2, cores: 16, online: '0-31', threadsPerCore: 2, nodes: [0, 1],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '32-111', l2Instances: 16, l3Instances: 2,
    nodeCpus: { node: 0, cpus: '0-7,16-23' }, firstNodeMemTotalKb: 47925628, firstNodeDistances: [10, 21],
  },
  'qemu-skylake-4vcpu-2offline': {
    sockets: 2, dies: 2, cores: 2, online: '0-1', threadsPerCore: 1, nodes: [0],
    memoryOnlyNodes: [], isolated: '', offline: '2-3', absent: '', l2Instances: 2, l3Instances: 2,
    firstNodeMemTotalKb: 7881912, firstNodeDistances: [10],
  },
  'synthetic-intel-xeon-gold6132-2s-ht': {
    sockets: 2, dies: 2, cores: 28, online: '0-55', threadsPerCore: 2, nodes: [0, 1],
    memoryOnlyNodes: [], isolated: '', offline: '', absent: '', l2Instances: 28, l3Instances: 2,
    nodeCpus: { node: 0, cpus: '0-13,28-41' }, firstNodeMemTotalKb: null, firstNodeDistances: [10, 21],
  },
};

if (!hasSharedFixtures) {
  t.test('shared sysfs dumps', { skip: 'the shared dumps (../shared/fixtures/sysfs) are not beside this checkout' }, async () => {});
} else {
  t.test('every shared dump has expected facts here, and every fact a dump', async (t) => {
    t.same(sharedFixtureNames(), Object.keys(expected).sort());
  });

  for (const [name, facts] of Object.entries(expected)) {
    t.test(name, async (t) => {
      const topology = await discoverTopology(await unpackSharedFixture(name));
      const json = formatTopologyJson(topology);
      t.match(json, {
        sockets: facts.sockets,
        dies: facts.dies,
        cores: facts.cores,
        cpus: topology.online.size,
        onlineCpus: facts.online,
        threadsPerCore: facts.threadsPerCore,
        isolatedCpus: facts.isolated,
        offlineCpus: facts.offline,
        absentCpus: facts.absent,
        memoryOnlyNodes: facts.memoryOnlyNodes,
      });
      t.same(json.numaNodes.map((node) => node.id), facts.nodes, 'NUMA node ids');
      t.same(cachesAtLevel(topology, 2).length, facts.l2Instances, 'L2 instances');
      t.same(cachesAtLevel(topology, 3).length, facts.l3Instances, 'L3 instances');
      if (facts.packages !== undefined) t.same(topology.packages, facts.packages, 'package ids');
      if (facts.nodeCpus !== undefined) {
        t.equal(json.numaNodes.find((node) => node.id === facts.nodeCpus!.node)?.cpus, facts.nodeCpus.cpus);
      }
      const first = json.numaNodes[0]!;
      t.equal(first.memoryBytes, facts.firstNodeMemTotalKb === null ? null : facts.firstNodeMemTotalKb * 1024, 'memory');
      t.same(first.distances === null ? null : Object.values(first.distances), facts.firstNodeDistances, 'distances');
      for (const node of json.numaNodes) {
        t.equal(node.memoryOnly, facts.memoryOnlyNodes.includes(node.id), `node ${node.id} memory-only`);
        t.equal(node.cpus === '', node.memoryOnly, `node ${node.id} has CPUs unless memory-only`);
      }
      // Every online CPU sits in exactly one node, and thread siblings share a core.
      const nodeCpuTotal = topology.nodes.reduce((sum, node) => sum + node.cpus.size, 0);
      t.equal(nodeCpuTotal, topology.online.size, 'node CPUs partition the online CPUs');
      for (const cpu of topology.cpus.values()) {
        if (!cpu.threadSiblings.has(cpu.id) || !cpu.threadSiblings.isSubsetOf(topology.online)) {
          t.fail(`cpu ${cpu.id}: thread siblings ${cpu.threadSiblings.format()} are not its online core`);
        }
      }
    });
  }
}
