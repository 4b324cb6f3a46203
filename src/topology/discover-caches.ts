// L2 and L3 cache instances from `cpuN/cache/indexK`: which online CPUs share each one.
// Old ARM kernels give no cache `id`, so an instance is also identified by its shared set;
// old kernels give `shared_cpu_map` (a hex mask) instead of `shared_cpu_list`.
import { join } from 'node:path';
import type { CpuSet } from './cpuset.js';
import { listNumbered, readCpuSet, readInt, readOptional } from './sysfs.js';
import type { Cache } from './types.js';

/** The keys of the L2 and L3 instances one CPU uses. */
export interface CacheKeys {
  l2?: string;
  l3?: string;
}

export interface DiscoveredCaches {
  readonly caches: Cache[];
  readonly cacheKeysOfCpu: ReadonlyMap<number, CacheKeys>;
}

export function discoverCaches(cpuDir: string, online: CpuSet): DiscoveredCaches {
  const byKey = new Map<string, Cache>();
  // Per level, the instance each CPU is already known to use: its siblings need no more reads.
  const knownAt = { 2: new Map<number, Cache>(), 3: new Map<number, Cache>() };
  const cacheKeysOfCpu = new Map<number, CacheKeys>();
  for (const cpu of online) {
    const keys: CacheKeys = {};
    const knownL2 = knownAt[2].get(cpu);
    const knownL3 = knownAt[3].get(cpu);
    if (knownL2 !== undefined && knownL3 !== undefined) {
      cacheKeysOfCpu.set(cpu, { l2: knownL2.key, l3: knownL3.key });
      continue;
    }
    const cacheDir = join(cpuDir, `cpu${cpu}`, 'cache');
    for (const index of listNumbered(cacheDir, 'index')) {
      const dir = join(cacheDir, `index${index}`);
      const level = readInt(join(dir, 'level'));
      if (level !== 2 && level !== 3) continue;
      const field = level === 2 ? 'l2' : 'l3';
      const type = readOptional(join(dir, 'type')) ?? 'Unified';
      if (keys[field] !== undefined || type === 'Instruction') continue;
      let cache = knownAt[level].get(cpu);
      if (cache === undefined) {
        const read = readCache(dir, level, type, cpu, online, byKey);
        if (read === null) continue;
        for (const member of read.cpus) knownAt[level].set(member, read);
        cache = read;
      }
      keys[field] = cache.key;
    }
    cacheKeysOfCpu.set(cpu, keys);
  }
  const caches = [...byKey.values()].sort((a, b) => a.level - b.level || a.cpus.first()! - b.cpus.first()!);
  return { caches, cacheKeysOfCpu };
}

function readCache(
  dir: string,
  level: 2 | 3,
  type: string,
  cpu: number,
  online: CpuSet,
  byKey: Map<string, Cache>,
): Cache | null {
  const shared = readCpuSet(dir, 'shared_cpu_list', 'shared_cpu_map')?.intersect(online);
  if (shared === undefined || !shared.has(cpu)) return null;
  const id = readInt(join(dir, 'id'));
  const byId = id === null ? undefined : `L${level}:${id}`;
  // Ids are unique per level on sane firmware; fall back to the shared set where they clash.
  const key = byId !== undefined && !byKey.has(byId) ? byId : `L${level}:cpu${shared.first()}`;
  const cache: Cache = { key, level, type, sizeBytes: parseSizeBytes(readOptional(join(dir, 'size'))), cpus: shared };
  byKey.set(key, cache);
  return cache;
}

/** `1024K`, `32M`, `512` → bytes; null when absent or unreadable. */
export function parseSizeBytes(text: string | null): number | null {
  const match = text === null ? null : /^(\d+)\s*([KMG]?)$/iu.exec(text);
  if (match === null) return null;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}
