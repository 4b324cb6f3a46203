// memory.numa_stat of a container's cgroup: bytes per node per kind of memory. cgroup v1 writes
// "total=<pages> N0=<pages> ..." lines (plus hierarchical_* ones); cgroup v2 writes
// "anon N0=<bytes> ...". Parsing is pure; readContainerNumaStat does the I/O.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface NumaStat {
  readonly format: 'v1' | 'v2';
  /** kind (anon, file, total, hierarchical_anon, kernel_stack, ...) → node → bytes */
  readonly byKind: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

export class NumaStatParseError extends Error {
  override readonly name = 'NumaStatParseError';
  readonly code = 'ERR_NUMA_STAT';
}

export function parseNumaStat(text: string, pageSizeBytes = 4096): NumaStat {
  const byKind = new Map<string, Map<number, number>>();
  let format: NumaStat['format'] | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    // v1: "anon=12 N0=10 N1=2" (pages); v2: "anon N0=40960 N1=8192" (bytes).
    const match = /^([a-z_]+)(?:=(\d+))?((?:\s+N\d+=\d+)*)$/u.exec(line);
    if (!match) throw new NumaStatParseError(`memory.numa_stat line ${index + 1} is not "kind N0=value ...": "${line}"`);
    const lineFormat = match[2] === undefined ? 'v2' : 'v1';
    format ??= lineFormat;
    if (format !== lineFormat) throw new NumaStatParseError(`memory.numa_stat line ${index + 1} mixes the v1 and v2 formats`);
    const unit = format === 'v1' ? pageSizeBytes : 1;
    const nodes = new Map<number, number>();
    for (const [, node, value] of (match[3] ?? '').matchAll(/N(\d+)=(\d+)/gu)) nodes.set(Number(node), Number(value) * unit);
    byKind.set(match[1] as string, nodes);
  }
  if (format === undefined) throw new NumaStatParseError('memory.numa_stat is empty');
  return { format, byKind };
}

/** Anonymous memory per node: the part of a container that page migration moves. */
export function anonBytesByNode(stat: NumaStat): ReadonlyMap<number, number> {
  return stat.byKind.get('anon') ?? new Map();
}

export async function readContainerNumaStat(cgroupDir: string, pageSizeBytes = 4096): Promise<NumaStat> {
  return parseNumaStat(await readFile(join(cgroupDir, 'memory.numa_stat'), 'utf8'), pageSizeBytes);
}
