// The topology as the `topology` command prints it: a JSON object other tools read, and a tree
// a person reads (sockets → dies → NUMA nodes → L3 groups → cores).
import { CpuSet } from './cpuset.js';
import {
  allCores,
  cachesAtLevel,
  coresOf,
  cpusOfNodes,
  dies,
  memoryOnlyNodes,
  nodesByDistanceFrom,
  threadsPerCore,
} from './queries.js';
import type { Cache, NumaNode, Topology } from './types.js';

export interface TopologyJson {
  sockets: number;
  dies: number;
  cores: number;
  /** Online CPUs. */
  cpus: number;
  /** The most threads of any core. */
  threadsPerCore: number;
  onlineCpus: string;
  isolatedCpus: string;
  offlineCpus: string;
  absentCpus: string;
  packages: { id: number; cpus: string; dies: { id: number; cpus: string }[]; numaNodes: number[] }[];
  numaNodes: {
    id: number;
    cpus: string;
    memoryBytes: number | null;
    distances: Record<string, number> | null;
    memoryOnly: boolean;
  }[];
  memoryOnlyNodes: number[];
  caches: { key: string; level: number; type: string; sizeBytes: number | null; cpus: string }[];
  cpuDetails: {
    id: number;
    packageId: number;
    dieId: number;
    clusterId: number;
    coreId: number;
    nodeId: number;
    threadSiblings: string;
    l2: string | null;
    l3: string | null;
  }[];
}

export function formatTopologyJson(topology: Topology): TopologyJson {
  const allDies = dies(topology);
  return {
    sockets: topology.packages.length,
    dies: allDies.length,
    cores: allCores(topology).length,
    cpus: topology.online.size,
    threadsPerCore: threadsPerCore(topology),
    onlineCpus: topology.online.format(),
    isolatedCpus: topology.isolated.format(),
    offlineCpus: topology.offline.format(),
    absentCpus: (topology.absent ?? CpuSet.empty).format(),
    packages: topology.packages.map((id) => {
      const packageDies = allDies.filter((die) => die.packageId === id);
      const cpus = packageDies.reduce((all, die) => all.union(die.cpus), CpuSet.empty);
      return {
        id,
        cpus: cpus.format(),
        dies: packageDies.map((die) => ({ id: die.dieId, cpus: die.cpus.format() })),
        numaNodes: nodesTouching(topology, cpus).map((node) => node.id),
      };
    }),
    numaNodes: topology.nodes.map((node) => ({
      id: node.id,
      cpus: node.cpus.format(),
      memoryBytes: node.memoryBytes,
      distances: node.distances === null ? null : Object.fromEntries([...node.distances].map(([id, d]) => [String(id), d])),
      memoryOnly: node.memoryOnly,
    })),
    memoryOnlyNodes: memoryOnlyNodes(topology).toArray(),
    caches: topology.caches.map((cache) => ({
      key: cache.key,
      level: cache.level,
      type: cache.type,
      sizeBytes: cache.sizeBytes,
      cpus: cache.cpus.format(),
    })),
    cpuDetails: [...topology.cpus.values()]
      .sort((a, b) => a.id - b.id)
      .map((cpu) => ({
        id: cpu.id,
        packageId: cpu.packageId,
        dieId: cpu.dieId,
        clusterId: cpu.clusterId,
        coreId: cpu.coreId,
        nodeId: cpu.nodeId,
        threadSiblings: cpu.threadSiblings.format(),
        l2: cpu.l2 ?? null,
        l3: cpu.l3 ?? null,
      })),
  };
}

function nodesTouching(topology: Topology, cpus: CpuSet): NumaNode[] {
  return topology.nodes.filter((node) => node.cpus.intersects(cpus));
}

/** `1.5 GiB`, `512 KiB`; `unknown size` for null. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return 'unknown size';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

const maxLineWidth = 100;

function plural(count: number): string {
  return count === 1 ? '' : 's';
}

/** Words joined by two spaces, wrapped to lines of at most maxLineWidth, each indented. */
function wrap(indent: string, words: readonly string[]): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && indent.length + line.length + 2 + word.length > maxLineWidth) {
      lines.push(indent + line);
      line = '';
    }
    line = line === '' ? word : `${line}  ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

function formatDistances(node: NumaNode): string {
  if (node.distances === null) return 'distances unknown';
  return `distances ${[...node.distances].map(([id, d]) => `${id}:${d}`).join(' ')}`;
}

/** A core as its threads (`0,28`). */
function formatCore(core: CpuSet): string {
  return core.toArray().join(',');
}

/** Cores as `0,28`, grouped per shared L2 where an L2 serves more than one core. */
function formatCores(topology: Topology, cpus: CpuSet, indent: string): string[] {
  const cores = coresOf(topology, cpus);
  const l2Groups = new Map<string, CpuSet[]>();
  for (const core of cores) {
    const key = topology.cpus.get(core.first()!)?.l2 ?? `core${core.first()}`;
    l2Groups.set(key, [...(l2Groups.get(key) ?? []), core]);
  }
  if ([...l2Groups.values()].every((group) => group.length === 1)) {
    return wrap(indent, ['cores:', ...cores.map(formatCore)]);
  }
  const l2ByKey = new Map(cachesAtLevel(topology, 2).map((cache) => [cache.key, cache]));
  return [...l2Groups].flatMap(([key, group]) =>
    wrap(indent, [`L2 ${formatBytes(l2ByKey.get(key)?.sizeBytes ?? null)}, cores:`, ...group.map(formatCore)]),
  );
}

function formatNode(topology: Topology, node: NumaNode, l3s: readonly Cache[], indent: string): string[] {
  const lines = [`${indent}node ${node.id}: ${formatBytes(node.memoryBytes)}, CPUs ${node.cpus.format()}, ${formatDistances(node)}`];
  const groups = l3s.filter((cache) => cache.cpus.intersects(node.cpus));
  const uncached = groups.reduce((rest, cache) => rest.difference(cache.cpus), node.cpus);
  for (const cache of groups) {
    const others = nodesTouching(topology, cache.cpus).filter((other) => other.id !== node.id);
    const where =
      others.length > 0
        ? `, shared with node${plural(others.length)} ${others.map((other) => other.id).join(',')}`
        : cache.cpus.equals(node.cpus)
          ? ''
          : `, CPUs ${cache.cpus.format()}`;
    lines.push(`${indent}  L3 ${formatBytes(cache.sizeBytes)}${where}`);
    lines.push(...formatCores(topology, cache.cpus.intersect(node.cpus), `${indent}    `));
  }
  if (!uncached.isEmpty()) lines.push(...formatCores(topology, uncached, `${indent}  `));
  return lines;
}

export function formatTopologyText(topology: Topology): string {
  const json = formatTopologyJson(topology);
  const l3s = cachesAtLevel(topology, 3);
  const threads = json.threadsPerCore === 1 ? 'no SMT' : `up to ${json.threadsPerCore} threads per core`;
  const lines = [
    `${json.sockets} socket${plural(json.sockets)}, ${json.dies} die${plural(json.dies)}, ` +
      `${json.cores} core${plural(json.cores)}, ${json.cpus} online CPU${plural(json.cpus)} (${threads}), ` +
      `${topology.nodes.length} NUMA node${plural(topology.nodes.length)}`,
  ];
  const allDies = dies(topology);
  for (const packageId of topology.packages) {
    lines.push(`socket ${packageId}`);
    const packageDies = allDies.filter((die) => die.packageId === packageId);
    for (const die of packageDies) {
      const indent = packageDies.length > 1 ? '    ' : '  ';
      if (packageDies.length > 1) lines.push(`  die ${die.dieId}`);
      for (const node of nodesTouching(topology, die.cpus)) {
        lines.push(...formatNode(topology, { ...node, cpus: node.cpus.intersect(die.cpus) }, l3s, indent));
      }
    }
  }
  const cpuless = topology.nodes.filter((node) => node.cpus.isEmpty());
  if (cpuless.length > 0) lines.push('nodes without online CPUs');
  for (const node of cpuless) {
    const nearest = nodesByDistanceFrom(topology, node.id).find((id) => !cpusOfNodes(topology, [id]).isEmpty());
    const kind = node.memoryOnly ? 'memory only, ' : '';
    const near = nearest === undefined ? '' : `, nearest CPU node ${nearest}`;
    lines.push(`  node ${node.id}: ${kind}${formatBytes(node.memoryBytes)}${near}, ${formatDistances(node)}`);
  }
  lines.push(`isolated CPUs: ${json.isolatedCpus || 'none'}`);
  lines.push(`offline CPUs: ${json.offlineCpus || 'none'}`);
  if (json.absentCpus !== '') lines.push(`possible but absent CPUs: ${json.absentCpus}`);
  return `${lines.join('\n')}\n`;
}
