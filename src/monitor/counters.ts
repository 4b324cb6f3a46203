// Perf counter groups per container cgroup (one group per CPU) or per process. Every read of one
// tick happens in ONE worker call off the event loop and returns deltas since the last read,
// scaled for multiplexing.
import { readFileSync } from 'node:fs';
import { CpuSet } from '../topology/cpuset.js';
import { loadAddon, type NativeCounterGroup } from './addon.js';
import { parseCpuInfo, planEventEncodings, type EncodingPlan, type EventEncoding, type EventName } from './perf-events.js';

export interface CounterGroupOptions {
  /** A cgroup2 directory (on a v1/v2 hybrid host: under /sys/fs/cgroup/unified). */
  readonly cgroupPath?: string;
  readonly pid?: number;
  readonly events: readonly EventName[];
  /** CPUs to count on in cgroup mode; default every online CPU. */
  readonly cpus?: readonly number[];
}

export interface CounterGroup {
  readonly events: readonly EventName[];
  readonly target: string;
  readonly fdCount: number;
  /** @internal the addon's handle */
  readonly native: NativeCounterGroup;
}

export interface CounterReading {
  readonly group: CounterGroup;
  /** Delta per event since the last read (the first read: since open), scaled for multiplexing. */
  readonly deltas: ReadonlyMap<EventName, number>;
  /** Share of the enabled time the counters really ran (1 = no multiplexing; 0 = never ran). */
  readonly runningFraction: number;
  readonly error?: string;
}

export class CounterError extends Error {
  override readonly name = 'CounterError';

  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

let plan: EncodingPlan | undefined;

/** This CPU's encodings (read once from /proc/cpuinfo). */
export function eventEncodings(): EncodingPlan {
  plan ??= planEventEncodings(parseCpuInfo(readFileSync('/proc/cpuinfo', 'utf8')));
  return plan;
}

function encodingOf(name: EventName): EventEncoding {
  const { encodings, missing } = eventEncodings();
  const encoding = encodings.get(name);
  if (encoding === undefined) {
    throw new CounterError(`event ${name} cannot be counted on this CPU: ${missing.get(name) ?? 'unknown event'}`, 'EUNSUPPORTED');
  }
  return encoding;
}

function onlineCpus(): number[] {
  return [...CpuSet.parse(readFileSync('/sys/devices/system/cpu/online', 'utf8'))];
}

export function openCounters(options: CounterGroupOptions): CounterGroup {
  if ((options.cgroupPath === undefined) === (options.pid === undefined)) {
    throw new CounterError('openCounters needs exactly one of cgroupPath and pid', 'EINVAL');
  }
  const events = options.events.map(encodingOf);
  const cpus = options.cgroupPath === undefined ? undefined : [...(options.cpus ?? onlineCpus())];
  try {
    const native = loadAddon().openCounters({
      ...(options.cgroupPath === undefined ? { pid: options.pid } : { cgroupPath: options.cgroupPath, cpus }),
      events: events.map(({ name, type, config, config1 }) => ({ name, type, config, ...(config1 === undefined ? {} : { config1 }) })),
    });
    const target = options.cgroupPath ?? `pid ${options.pid}`;
    return { events: [...options.events], target, fdCount: native.fdCount, native };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') throw new CounterError((error as Error).message, code);
    throw error;
  }
}

/** Reads every group of one tick in one worker call. */
export async function readCounters(groups: readonly CounterGroup[]): Promise<CounterReading[]> {
  if (groups.length === 0) return [];
  const readings = await loadAddon().readCounters(groups.map((group) => group.native));
  return readings.map((reading, index) => {
    const group = groups[index] as CounterGroup;
    const deltas = new Map<EventName, number>(group.events.map((name, event) => [name, reading.values[event] ?? 0]));
    const runningFraction = reading.enabledNs === 0 ? 0 : reading.runningNs / reading.enabledNs;
    return { group, deltas, runningFraction, ...(reading.error === undefined ? {} : { error: reading.error }) };
  });
}

export function closeCounters(group: CounterGroup): void {
  group.native.close();
}

/** The most perf descriptors the process may hold; opening beyond it fails with code EBUDGET. */
export function setPerfFdBudget(budget: number): void {
  loadAddon().setPerfFdBudget(budget);
}

export function perfFdUsage(): { open: number; budget: number } {
  return loadAddon().perfFdUsage();
}
