// /proc/PID/numa_maps (where each mapping's pages are) and /proc/PID/maps (mapping ranges):
// pure parsers, plus a reader that sums a container's processes per node. numa_maps walks page
// tables under the mmap lock: read it sparingly (verification, not every tick).
import { readFile } from 'node:fs/promises';

export interface NumaMapsEntry {
  readonly address: number;
  readonly policy: string;
  readonly file?: string;
  readonly kind: 'heap' | 'stack' | 'huge' | 'other';
  readonly anonPages: number;
  readonly dirtyPages: number;
  readonly pagesByNode: ReadonlyMap<number, number>;
  readonly pageSizeBytes: number;
}

export function parseNumaMaps(text: string): NumaMapsEntry[] {
  const entries: NumaMapsEntry[] = [];
  for (const line of text.split('\n')) {
    const [address, policy, ...tokens] = line.trim().split(/\s+/u);
    if (address === undefined || address === '' || policy === undefined) continue;
    const pagesByNode = new Map<number, number>();
    let file: string | undefined;
    let kind: NumaMapsEntry['kind'] = 'other';
    let anonPages = 0;
    let dirtyPages = 0;
    let pageSizeBytes = 4096;
    for (const token of tokens) {
      const equals = token.indexOf('=');
      const key = equals < 0 ? token : token.slice(0, equals);
      const value = token.slice(equals + 1);
      const node = /^N(\d+)$/u.exec(key);
      if (node) pagesByNode.set(Number(node[1]), Number(value));
      else if (key === 'file') file = value;
      else if (key === 'anon') anonPages = Number(value);
      else if (key === 'dirty') dirtyPages = Number(value);
      else if (key === 'kernelpagesize_kB') pageSizeBytes = Number(value) * 1024;
      else if (key === 'heap' || key === 'stack' || key === 'huge') kind = key;
    }
    entries.push({ address: Number.parseInt(address, 16), policy, ...(file === undefined ? {} : { file }), kind, anonPages, dirtyPages, pagesByNode, pageSizeBytes });
  }
  return entries;
}

export interface NodeUsage {
  readonly pagesByNode: ReadonlyMap<number, number>;
  readonly bytesByNode: ReadonlyMap<number, number>;
}

export function sumNumaMapsByNode(entries: Iterable<NumaMapsEntry>): NodeUsage {
  const pagesByNode = new Map<number, number>();
  const bytesByNode = new Map<number, number>();
  for (const entry of entries) {
    for (const [node, pages] of entry.pagesByNode) {
      pagesByNode.set(node, (pagesByNode.get(node) ?? 0) + pages);
      bytesByNode.set(node, (bytesByNode.get(node) ?? 0) + pages * entry.pageSizeBytes);
    }
  }
  return { pagesByNode, bytesByNode };
}

/** A container's pages per node over its processes; processes that exited meanwhile are skipped. */
export async function readContainerNumaMaps(pids: Iterable<number>, procRoot = '/proc'): Promise<NodeUsage> {
  const entries: NumaMapsEntry[] = [];
  for (const pid of pids) {
    try {
      entries.push(...parseNumaMaps(await readFile(`${procRoot}/${pid}/numa_maps`, 'utf8')));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH') throw error;
    }
  }
  return sumNumaMapsByNode(entries);
}

export interface MappingRange {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  readonly path: string;
}

export function parseProcMaps(text: string): MappingRange[] {
  const ranges: MappingRange[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/u.exec(line);
    if (!match) continue;
    ranges.push({ start: Number.parseInt(match[1] as string, 16), end: Number.parseInt(match[2] as string, 16), perms: match[3] as string, path: match[4] ?? '' });
  }
  return ranges;
}

/** Mappings whose pages can belong to this process alone: private and writable (heap, stacks, anon, data). */
export function selectPrivateWritable(ranges: readonly MappingRange[]): MappingRange[] {
  return ranges.filter((range) => range.perms[1] === 'w' && range.perms[3] === 'p');
}
