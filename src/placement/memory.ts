// Rule 4: memory nodes follow the CPUs. When the memory limit does not fit the free memory of
// those nodes (node size minus the limits already committed there), widen to the nearest nodes
// by distance, ties by id; memory-only nodes (PMEM, CXL, HBM) join only where allowed.
import { CpuSet } from '../topology/cpuset.js';
import type { PlacementContext } from './context.js';

export interface MemoryChoice {
  readonly mems: CpuSet;
  readonly reason: string;
}

const gib = 1024 ** 3;

export function formatBytes(bytes: number): string {
  return bytes >= gib ? `${+(bytes / gib).toFixed(1)} GiB` : `${+(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * The memory nodes for CPUs on `cpuNodes` (node ids) and a memory limit; `committedBytes` is
 * indexed by node index.
 */
export function chooseMemoryNodes(
  context: PlacementContext,
  cpuNodes: CpuSet,
  memoryLimitBytes: number | null,
  committedBytes: Float64Array,
  allowMemoryOnly: boolean,
): MemoryChoice {
  const here = `memory on node${cpuNodes.size === 1 ? '' : 's'} ${cpuNodes.format()}, with its CPUs`;
  if (memoryLimitBytes === null || memoryLimitBytes <= 0) return { mems: cpuNodes, reason: `rule 4: ${here}` };
  const chosen = cpuNodes.toArray().map((id) => context.nodeIndexById.get(id)!);
  const freeOf = (index: number): number => {
    const size = context.nodes[index]!.memoryBytes;
    return size === null ? Infinity : Math.max(0, size - committedBytes[index]!);
  };
  let free = chosen.reduce((sum, index) => sum + freeOf(index), 0);
  if (free >= memoryLimitBytes) return { mems: cpuNodes, reason: `rule 4: ${here}` };

  const count = context.nodes.length;
  const nearness = (index: number): number =>
    Math.min(...chosen.map((from) => context.distance[from * count + index]!));
  const candidates = context.nodes
    .filter((node) => !chosen.includes(node.index) && (allowMemoryOnly || !node.memoryOnly))
    .map((node) => node.index)
    .sort((a, b) => nearness(a) - nearness(b) || a - b);
  const firstFree = free;
  const added: number[] = [];
  for (const index of candidates) {
    if (free >= memoryLimitBytes) break;
    added.push(index);
    free += freeOf(index);
  }
  const mems = CpuSet.of([...chosen, ...added].map((index) => context.nodes[index]!.id));
  const limit = formatBytes(memoryLimitBytes);
  const widened = `the ${limit} memory limit does not fit the ${formatBytes(firstFree)} free on node(s) ${cpuNodes.format()}`;
  const reason =
    free >= memoryLimitBytes
      ? `rule 4: memory widened to nodes ${mems.format()} (nearest by distance): ${widened}`
      : `rule 4: memory on every allowed node ${mems.format()}: ${widened}, nor anywhere (memory is overcommitted)`;
  return { mems, reason };
}
