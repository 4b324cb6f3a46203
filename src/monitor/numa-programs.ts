// The eBPF NUMA event programs (native/numa_events.bpf.c): per container cgroup, task migrations
// that cross nodes, the kernel NUMA balancer's decisions and page migrations, counted in kernel
// maps and read in one batch per tick. Failing to load is a value with a reason, never a crash.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Topology } from '../topology/types.js';
import { AddonUnavailableError, loadAddon, type NativeNumaPrograms } from './addon.js';

/** How cgroups are keyed: the cgroup2 id, or on a cgroup-v1 host the v1 memory cgroup's id. */
export type CgroupKeying = 'v2' | 'v1-memory';

export interface NumaEventCounts {
  readonly taskMigrations: number;
  readonly crossNodeMigrations: number;
  readonly numaMoves: number;
  readonly numaSwaps: number;
  readonly numaSticks: number;
  readonly numaCpusetSkips: number;
  readonly pagesMigrated: number;
  readonly pagesMigrationFailed: number;
}

/** The order of struct numa_event_counts in native/numa_events.h. */
const countFields: readonly (keyof NumaEventCounts)[] = [
  'taskMigrations',
  'crossNodeMigrations',
  'numaMoves',
  'numaSwaps',
  'numaSticks',
  'numaCpusetSkips',
  'pagesMigrated',
  'pagesMigrationFailed',
];

export interface NumaPrograms {
  readonly available: true;
  readonly keying: CgroupKeying;
  /** Tracepoints attached. */
  readonly attached: readonly string[];
  /** Tracepoints left out, each "name: why". */
  readonly skipped: readonly string[];
  /** Totals since load per cgroup id (see cgroupIdOf), one map read per call. */
  read(): Promise<Map<bigint, NumaEventCounts>>;
  /** Detaches every program; safe to call twice. */
  close(): void;
}

export interface NumaProgramsUnavailable {
  readonly available: false;
  readonly reason: string;
}

export interface NumaProgramOptions {
  /** Node of each CPU by CPU id (-1: unknown); a task migration counts as cross-node when they differ. */
  readonly cpuToNode: readonly number[];
  /** Default: v1-memory where a v1 memory controller is mounted at cgroupRoot/memory, else v2. */
  readonly keying?: CgroupKeying;
  readonly cgroupRoot?: string;
}

/** CPU id → node id (-1 for CPUs that are not online), the programs' cpuToNode input. */
export function cpuToNodeOf(topology: Topology): number[] {
  const map: number[] = [];
  for (const [id, cpu] of topology.cpus) map[id] = cpu.nodeId;
  return Array.from(map, (node) => node ?? -1);
}

export function discoverCgroupKeying(cgroupRoot = '/sys/fs/cgroup'): CgroupKeying {
  const unified = existsSync(join(cgroupRoot, 'cgroup.controllers'));
  return !unified && existsSync(join(cgroupRoot, 'memory', 'cgroup.procs')) ? 'v1-memory' : 'v2';
}

/** The id the programs key a cgroup by: the inode of its directory (v2, or the v1 memory cgroup). */
export async function cgroupIdOf(cgroupDir: string): Promise<bigint> {
  return (await stat(cgroupDir, { bigint: true })).ino;
}

export function decodeCounts(cgroupIds: BigUint64Array, counts: BigUint64Array): Map<bigint, NumaEventCounts> {
  const out = new Map<bigint, NumaEventCounts>();
  cgroupIds.forEach((id, index) => {
    const entry: Record<string, number> = {};
    countFields.forEach((field, offset) => {
      entry[field] = Number(counts[index * countFields.length + offset] ?? 0n);
    });
    out.set(id, entry as unknown as NumaEventCounts);
  });
  return out;
}

export async function loadNumaPrograms(options: NumaProgramOptions): Promise<NumaPrograms | NumaProgramsUnavailable> {
  let addon;
  try {
    addon = loadAddon();
  } catch (error) {
    if (error instanceof AddonUnavailableError) return { available: false, reason: error.message };
    throw error;
  }
  const keying = options.keying ?? discoverCgroupKeying(options.cgroupRoot);
  const loaded = await addon.loadNumaPrograms([...options.cpuToNode], keying === 'v1-memory');
  if (loaded.programs === undefined) return { available: false, reason: loaded.reason ?? 'unknown failure' };
  const programs: NativeNumaPrograms = loaded.programs;
  return {
    available: true,
    keying,
    attached: programs.attached,
    skipped: programs.skipped,
    async read() {
      const { cgroupIds, counts } = await programs.read();
      return decodeCounts(cgroupIds, counts);
    },
    close() {
      programs.close();
    },
  };
}
