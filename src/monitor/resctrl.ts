// Memory-bandwidth monitoring through resctrl (Intel RDT MBM, AMD PQoS): one monitoring group per
// container under /sys/fs/resctrl/mon_groups, local and total bytes per L3 domain, remote = total
// − local. Groups follow task ids, not cgroups: the caller adds new tasks. RMIDs are few (ENOSPC).
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ResctrlProbe {
  /** "resctrl" is listed in /proc/filesystems. */
  readonly supported: boolean;
  /** info/L3_MON exists under the root (mounted, with L3 monitoring). */
  readonly mounted: boolean;
  readonly monFeatures: readonly string[];
  readonly numRmids: number | null;
}

export interface ResctrlCapability {
  readonly available: boolean;
  readonly reason?: string;
  readonly localBytes: boolean;
  readonly totalBytes: boolean;
  readonly numRmids: number | null;
}

export function describeResctrl(probe: ResctrlProbe, root: string): ResctrlCapability {
  const localBytes = probe.monFeatures.includes('mbm_local_bytes');
  const totalBytes = probe.monFeatures.includes('mbm_total_bytes');
  const base = { localBytes, totalBytes, numRmids: probe.numRmids };
  if (!probe.supported) {
    return { ...base, available: false, reason: 'no resctrl: the kernel offers no resctrl filesystem (the CPU or VM has no Intel RDT / AMD PQoS monitoring)' };
  }
  if (!probe.mounted) {
    return { ...base, available: false, reason: `resctrl is not mounted at ${root} (or has no L3 monitoring): mount -t resctrl resctrl ${root}` };
  }
  if (!localBytes || !totalBytes) {
    return { ...base, available: false, reason: `resctrl at ${root} has no memory-bandwidth monitoring (mon_features: ${probe.monFeatures.join(', ') || 'none'})` };
  }
  return { ...base, available: true };
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

export async function discoverResctrl(root = '/sys/fs/resctrl', procFilesystems = '/proc/filesystems'): Promise<ResctrlCapability> {
  const filesystems = (await readOptional(procFilesystems)) ?? '';
  const features = await readOptional(join(root, 'info', 'L3_MON', 'mon_features'));
  const rmids = await readOptional(join(root, 'info', 'L3_MON', 'num_rmids'));
  const probe: ResctrlProbe = {
    supported: /\bresctrl$/mu.test(filesystems) || features !== null,
    mounted: features !== null,
    monFeatures: (features ?? '').split('\n').map((line) => line.trim()).filter((line) => line !== ''),
    numRmids: rmids === null ? null : Number(rmids.trim()),
  };
  return describeResctrl(probe, root);
}

const groupNamePattern = /^[A-Za-z0-9_.-]{1,128}$/u;

export type MonitoringGroup = { available: true; dir: string } | { available: false; reason: string };

/** Creates (or reuses) mon_groups/NAME and adds the task ids to it. */
export async function createMonitoringGroup(
  root: string,
  name: string,
  taskIds: readonly number[],
  makeDir: (path: string) => Promise<unknown> = mkdir,
): Promise<MonitoringGroup> {
  if (!groupNamePattern.test(name) || name === '.' || name === '..') {
    return { available: false, reason: `invalid monitoring group name "${name}": use letters, digits, '_', '.', '-'` };
  }
  const dir = join(root, 'mon_groups', name);
  try {
    await makeDir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      const rmids = (await readOptional(join(root, 'info', 'L3_MON', 'num_rmids')))?.trim() ?? '?';
      return {
        available: false,
        reason: `no free RMID for a monitoring group (the CPU has ${rmids}, all in use): remove unused groups under ${join(root, 'mon_groups')} or monitor fewer containers`,
      };
    }
    if (code !== 'EEXIST') return { available: false, reason: `cannot create ${dir}: ${(error as Error).message}` };
  }
  // The kernel takes one task id per write.
  for (const id of taskIds) {
    try {
      await writeFile(join(dir, 'tasks'), `${id}\n`, { flag: 'a' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  return { available: true, dir };
}

export async function removeMonitoringGroup(root: string, name: string): Promise<void> {
  if (!groupNamePattern.test(name) || name === '.' || name === '..') return;
  await rmdir(join(root, 'mon_groups', name));
}

/** Counter value, or null where the kernel writes "Unavailable" / "Error". */
export function parseMbmValue(text: string): bigint | null {
  const trimmed = text.trim();
  return /^\d+$/u.test(trimmed) ? BigInt(trimmed) : null;
}

export interface MbmDomainSample {
  readonly totalBytes: bigint | null;
  readonly localBytes: bigint | null;
}

/** L3 domain (mon_L3_00, ...) → counters. */
export type MbmSample = ReadonlyMap<string, MbmDomainSample>;

export async function readMbm(groupDir: string): Promise<MbmSample> {
  const monData = join(groupDir, 'mon_data');
  const domains = (await readdir(monData)).filter((name) => name.startsWith('mon_L3_')).sort();
  const sample = new Map<string, MbmDomainSample>();
  for (const domain of domains) {
    const read = async (file: string) => {
      const text = await readOptional(join(monData, domain, file));
      return text === null ? null : parseMbmValue(text);
    };
    sample.set(domain, { totalBytes: await read('mbm_total_bytes'), localBytes: await read('mbm_local_bytes') });
  }
  return sample;
}

export interface MbmTraffic {
  readonly totalBytes: number;
  readonly localBytes: number;
  readonly remoteBytes: number;
  /** Domains whose counters were unavailable in either sample (their bytes are missing). */
  readonly unavailableDomains: readonly string[];
}

/** Counter difference that survives one wrap at wrapAt (the counter's modulus). */
export function counterDelta(previous: bigint, current: bigint, wrapAt: bigint): bigint {
  return current >= previous ? current - previous : wrapAt - previous + current;
}

/** Traffic between two samples of one group, summed over domains; remote = total − local. */
export function mbmTraffic(previous: MbmSample, current: MbmSample, wrapAt = 1n << 64n): MbmTraffic {
  let total = 0n;
  let local = 0n;
  const unavailableDomains: string[] = [];
  for (const [domain, now] of current) {
    const before = previous.get(domain);
    if (before?.totalBytes == null || before.localBytes == null || now.totalBytes === null || now.localBytes === null) {
      unavailableDomains.push(domain);
      continue;
    }
    total += counterDelta(before.totalBytes, now.totalBytes, wrapAt);
    local += counterDelta(before.localBytes, now.localBytes, wrapAt);
  }
  const remote = total > local ? total - local : 0n;
  return { totalBytes: Number(total), localBytes: Number(local), remoteBytes: Number(remote), unavailableDomains };
}
