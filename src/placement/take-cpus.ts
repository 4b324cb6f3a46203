// Rule 2's accumulator, kubelet-cpumanager style: choose the smallest unit that fits (NUMA node,
// then die, then socket, then the machine), then inside each chosen node take whole physical
// cores grouped by cache, then single threads. Preference order, written once here:
//   nodes:   2a. one node: first those whose free whole cores hold the request (when whole cores
//                are preferred), then best fit (least takeable capacity that fits), then lowest id;
//            2b. else within one die, then one socket, then the machine: the fewest nodes, then
//                the smallest sum of pairwise distances, then the least left over, then lowest id;
//                the chosen nodes give CPUs largest capacity first.
//   cores:   2c. whole free cores (every thread free): the cache group (L3, then L2) that holds
//                them all with the least room, else the largest groups first; cores by id;
//   threads: 2d. what is left one thread at a time: sharing an L3 with what was taken, then from
//                a core already partly used (keeps whole cores whole), then sharing an L2, then id.
import type { CoreInfo, NodeInfo, PlacementContext } from './context.js';

export type SpanLevel = 'node' | 'die' | 'socket' | 'machine';

export interface NodeChoice {
  /** Node indexes in the order they give CPUs. */
  readonly nodes: readonly number[];
  readonly level: SpanLevel;
}

/**
 * Rule 2a/2b: the nodes to take `need` CPUs from, or null when even the machine lacks them.
 * `wholeCpus`: per node, the CPUs of its free whole cores.
 */
export function chooseNodes(context: PlacementContext, need: number, takeable: Int32Array, wholeCpus: Int32Array): NodeChoice | null {
  const wholeNeed = need - (need % context.threadsPerCore);
  const score = (index: number): number => (wholeCpus[index]! >= wholeNeed ? 0 : 1e6) + takeable[index]!;
  let best = -1;
  for (const node of context.nodes) {
    if (takeable[node.index]! >= need && (best < 0 || score(node.index) < score(best))) best = node.index;
  }
  if (best >= 0) return { nodes: [best], level: 'node' };

  const levels: [SpanLevel, readonly (readonly number[])[]][] = [
    ['die', context.dieGroups],
    ['socket', context.socketGroups],
    ['machine', [context.nodes.map((node) => node.index)]],
  ];
  for (const [level, groups] of levels) {
    let chosen: Span | null = null;
    for (const group of groups) {
      const span = spanWithin(context, group, need, takeable);
      if (span !== null && (chosen === null || compareSpans(span, chosen) < 0)) chosen = span;
    }
    if (chosen !== null) {
      const order = [...chosen.nodes].sort((a, b) => takeable[b]! - takeable[a]! || a - b);
      return { nodes: order, level };
    }
  }
  return null;
}

interface Span {
  readonly nodes: readonly number[];
  readonly spread: number;
  readonly leftover: number;
  readonly seed: number;
}

function compareSpans(a: Span, b: Span): number {
  return a.nodes.length - b.nodes.length || a.spread - b.spread || a.leftover - b.leftover || a.seed - b.seed;
}

/** Rule 2b inside one group: from each seed node, add the nearest nodes until `need` fits. */
function spanWithin(context: PlacementContext, group: readonly number[], need: number, takeable: Int32Array): Span | null {
  const count = context.nodes.length;
  const usable = group.filter((index) => takeable[index]! > 0);
  let best: Span | null = null;
  for (const seed of usable) {
    const others = usable
      .filter((index) => index !== seed)
      .sort(
        (a, b) =>
          context.distance[seed * count + a]! - context.distance[seed * count + b]! ||
          takeable[b]! - takeable[a]! ||
          a - b,
      );
    const nodes = [seed];
    let total = takeable[seed]!;
    for (const other of others) {
      if (total >= need) break;
      nodes.push(other);
      total += takeable[other]!;
    }
    if (total < need) continue;
    let spread = 0;
    for (const a of nodes) for (const b of nodes) if (a < b) spread += context.distance[a * count + b]!;
    const span = { nodes, spread, leftover: total - need, seed };
    if (best === null || compareSpans(span, best) < 0) best = span;
  }
  return best;
}

/**
 * Rule 2c/2d: takes `count` CPUs of `node` whose `free` entry is 1, and marks them taken (0) in
 * `free`, which the caller passes as its own scratch copy.
 */
/** The CPUs of a node's cores whose every thread is free. */
export function wholeFreeCpus(context: Pick<PlacementContext, 'threadsPerCore'>, node: NodeInfo, free: Uint8Array): number {
  let count = 0;
  for (const core of node.cores) {
    if (core.cpus.length === context.threadsPerCore && core.cpus.every((id) => free[id] === 1)) count += core.cpus.length;
  }
  return count;
}

export function takeFromNode(
  context: Pick<PlacementContext, 'coreOfCpu' | 'threadsPerCore'>,
  node: NodeInfo,
  count: number,
  free: Uint8Array,
  preferWholeCores: boolean,
): number[] {
  const taken: number[] = [];
  const perCore = context.threadsPerCore;
  if (preferWholeCores) {
    const whole = node.cores.filter((core) => core.cpus.length === perCore && core.cpus.every((id) => free[id] === 1));
    for (const core of pickCores(whole, Math.floor(count / perCore), [(c) => c.l3, (c) => c.l2])) {
      for (const id of core.cpus) {
        taken.push(id);
        free[id] = 0;
      }
    }
  }
  const l3s = new Set<string>();
  const l2s = new Set<string>();
  for (const id of taken) {
    const core = context.coreOfCpu.get(id)!;
    l3s.add(core.l3);
    l2s.add(core.l2);
  }
  while (taken.length < count) {
    let best = -1;
    let bestScore = Infinity;
    for (const id of node.cpus) {
      if (free[id] !== 1) continue;
      const score = threadScore(context.coreOfCpu.get(id)!, free, l3s, l2s, preferWholeCores);
      if (score < bestScore) {
        best = id;
        bestScore = score;
      }
    }
    if (best < 0) break;
    taken.push(best);
    free[best] = 0;
    const core = context.coreOfCpu.get(best)!;
    l3s.add(core.l3);
    l2s.add(core.l2);
  }
  return taken.sort((a, b) => a - b);
}

/** Rule 2d's order as one number (lower is better); CPU ids break ties by scan order. */
function threadScore(core: CoreInfo, free: Uint8Array, l3s: Set<string>, l2s: Set<string>, packCores: boolean): number {
  const partlyUsed = packCores && core.cpus.some((id) => free[id] !== 1);
  return (l3s.has(core.l3) ? 0 : 4) + (partlyUsed ? 0 : 2) + (l2s.has(core.l2) ? 0 : 1);
}

/** Rule 2c: `want` cores, grouped level by level by the given cache keys. */
export function pickCores(cores: readonly CoreInfo[], want: number, levels: readonly ((core: CoreInfo) => string)[]): CoreInfo[] {
  if (want <= 0) return [];
  const [keyOf, ...deeper] = levels;
  if (want >= cores.length || keyOf === undefined) return cores.slice(0, want);
  const groups = new Map<string, CoreInfo[]>();
  for (const core of cores) {
    const key = keyOf(core);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [core]);
    else group.push(core);
  }
  const open = [...groups.values()];
  const chosen: CoreInfo[] = [];
  let remaining = want;
  while (remaining > 0 && open.length > 0) {
    let fit = -1;
    let largest = 0;
    open.forEach((group, index) => {
      if (group.length >= remaining && (fit < 0 || group.length < open[fit]!.length)) fit = index;
      if (group.length > open[largest]!.length) largest = index;
    });
    if (fit >= 0) return chosen.concat(pickCores(open[fit]!, remaining, deeper));
    const [group] = open.splice(largest, 1);
    chosen.push(...group!);
    remaining -= group!.length;
  }
  return chosen;
}
