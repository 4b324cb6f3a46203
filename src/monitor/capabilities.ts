// What this machine lets the daemon sense and do, each with the reason when it cannot: hardware
// and software perf events (with this CPU's DRAM locality encodings), per-cgroup counting, eBPF,
// resctrl bandwidth monitoring and page migration.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { discoverTopology } from '../topology/discover.js';
import { addonStatus, loadAddon, type NativeAddon } from './addon.js';
import { eventEncodings } from './counters.js';
import { cpuToNodeOf, discoverCgroupKeying, loadNumaPrograms, type CgroupKeying } from './numa-programs.js';
import { hardwareEventNames, parseCpuInfo, softwareEventNames, type CpuIdentity, type EventName } from './perf-events.js';
import { discoverResctrl, type ResctrlCapability } from './resctrl.js';

export interface Capability {
  readonly available: boolean;
  readonly reason?: string;
}

export interface EventCapability extends Capability {
  /** Where the encoding comes from (generic event name or the vendor's event). */
  readonly source?: string;
}

export interface Capabilities {
  readonly addon: Capability;
  readonly cpu: CpuIdentity;
  readonly hardwareEvents: Capability & {
    readonly events: Readonly<Partial<Record<EventName, EventCapability>>>;
    /** The DRAM event table row that matched this CPU. */
    readonly dramGeneration?: string;
  };
  readonly softwareEvents: Capability & { readonly events: Readonly<Partial<Record<EventName, EventCapability>>> };
  readonly perCgroupCounting: Capability & { readonly cgroup2Root?: string };
  readonly ebpf: Capability & { readonly attached: readonly string[]; readonly skipped: readonly string[]; readonly keying: CgroupKeying };
  readonly resctrl: ResctrlCapability;
  readonly pageMigration: Capability & { readonly nodes: number };
}

const errnoMeaning: Record<string, string> = {
  ENOENT: 'ENOENT: the CPU/VM does not offer it',
  EOPNOTSUPP: 'EOPNOTSUPP: the PMU cannot count it this way',
  EACCES: 'EACCES: not permitted (run as root or with CAP_PERFMON)',
  EPERM: 'EPERM: not permitted (run as root or with CAP_PERFMON)',
  EINVAL: 'EINVAL: the kernel rejected the encoding',
};

function probeEvents(addon: NativeAddon, names: readonly EventName[]): Record<string, EventCapability> {
  const { encodings, missing } = eventEncodings();
  const out: Record<string, EventCapability> = {};
  for (const name of names) {
    const encoding = encodings.get(name);
    if (encoding === undefined) {
      out[name] = { available: false, reason: missing.get(name) ?? 'unknown event' };
      continue;
    }
    const errno = addon.probePerfEvent(encoding);
    out[name] = errno === '' ? { available: true, source: encoding.source } : { available: false, source: encoding.source, reason: errnoMeaning[errno] ?? errno };
  }
  return out;
}

export function findCgroup2Root(cgroupRoot = '/sys/fs/cgroup'): string | undefined {
  return [cgroupRoot, join(cgroupRoot, 'unified')].find((dir) => existsSync(join(dir, 'cgroup.procs')) && existsSync(join(dir, 'cgroup.subtree_control')));
}

function summarizeHardware(events: Record<string, EventCapability>): Capability {
  const cycles = events.cycles;
  if (cycles?.available === true) return { available: true };
  if (cycles?.reason?.startsWith('ENOENT') === true) {
    return { available: false, reason: 'no hardware PMU: perf_event_open(cycles) fails with ENOENT (a VM without a virtual PMU); cycles, instructions, LLC misses and DRAM locality events cannot be counted' };
  }
  return { available: false, reason: `hardware events cannot be counted: cycles: ${cycles?.reason ?? 'unknown'}` };
}

async function discoverEbpf(addon: NativeAddon): Promise<Capabilities['ebpf']> {
  const keying = discoverCgroupKeying();
  const programs = await loadNumaPrograms({ cpuToNode: cpuToNodeOf(await discoverTopology()), keying });
  if (!programs.available) return { available: false, reason: programs.reason, attached: [], skipped: [], keying };
  programs.close();
  return { available: true, attached: programs.attached, skipped: programs.skipped, keying };
}

function onlineNodeCount(): number {
  try {
    return [...readFileSync('/sys/devices/system/node/online', 'utf8').matchAll(/(\d+)(?:-(\d+))?/gu)].reduce(
      (count, [, first, last]) => count + Number(last ?? first) - Number(first) + 1,
      0,
    );
  } catch {
    return 1;
  }
}

export async function discoverCapabilities(): Promise<Capabilities> {
  const cpu = parseCpuInfo(readFileSync('/proc/cpuinfo', 'utf8'));
  const resctrl = await discoverResctrl();
  const status = addonStatus();
  if (!status.loaded) {
    const reason = status.error ?? 'the native addon is unavailable';
    const missing = { available: false, reason };
    return {
      addon: missing,
      cpu,
      hardwareEvents: { ...missing, events: {} },
      softwareEvents: { ...missing, events: {} },
      perCgroupCounting: missing,
      ebpf: { ...missing, attached: [], skipped: [], keying: discoverCgroupKeying() },
      resctrl,
      pageMigration: { ...missing, nodes: onlineNodeCount() },
    };
  }
  const addon = loadAddon();
  const hardware = probeEvents(addon, hardwareEventNames);
  const software = probeEvents(addon, softwareEventNames);
  const softwareMissing = Object.entries(software).filter(([, event]) => !event.available);
  const cgroup2Root = findCgroup2Root();
  const taskClock = eventEncodings().encodings.get('task-clock');
  const perCgroupErrno = cgroup2Root === undefined || taskClock === undefined ? 'no cgroup2 mount' : addon.probePerfEvent(taskClock, cgroup2Root, 0);
  const migrationError = addon.probeMovePages();
  const nodes = onlineNodeCount();
  const dramGeneration = eventEncodings().dramGeneration;
  return {
    addon: { available: true },
    cpu,
    hardwareEvents: { ...summarizeHardware(hardware), events: hardware, ...(dramGeneration === undefined ? {} : { dramGeneration }) },
    softwareEvents: {
      available: softwareMissing.length === 0,
      ...(softwareMissing.length === 0 ? {} : { reason: softwareMissing.map(([name, event]) => `${name}: ${event.reason}`).join('; ') }),
      events: software,
    },
    perCgroupCounting:
      perCgroupErrno === ''
        ? { available: true, cgroup2Root: cgroup2Root as string }
        : { available: false, reason: `perf_event_open(task-clock, cgroup ${cgroup2Root ?? '(none)'}): ${errnoMeaning[perCgroupErrno] ?? perCgroupErrno}` },
    ebpf: await discoverEbpf(addon),
    resctrl,
    pageMigration:
      migrationError === ''
        ? { available: true, nodes, ...(nodes < 2 ? { reason: 'move_pages works; this machine has one NUMA node, so there is nowhere to move pages to' } : {}) }
        : { available: false, reason: migrationError, nodes },
  };
}
